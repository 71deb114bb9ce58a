package image

import (
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReadOCITarball feeds arbitrary archives to ReadOCITarball and reads
// whatever it finds: errors are fine, panics and hangs are not.
func FuzzReadOCITarball(f *testing.F) {
	dir := f.TempDir()
	for i, a := range []Artifact{mustBuild(f, nil), testImage(f, 1)} {
		p := filepath.Join(dir, "seed"+string(rune('0'+i))+".tar")
		require.NoError(f, WriteOCITarball(f.Context(), p, a, WithRefName("x")))
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte("not a tar"))
	work := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		tf, err := os.CreateTemp(work, "in-*.tar")
		require.NoError(t, err)
		p := tf.Name()
		defer os.Remove(p)
		_, err = tf.Write(b)
		require.NoError(t, errors.Join(err, tf.Close()))
		l, err := ReadOCITarball(p)
		if err != nil {
			return
		}
		defer l.Close()
		img, err := l.Image("")
		if err != nil {
			return
		}
		if _, err := img.ConfigFile(); err != nil {
			return
		}
		ls, err := img.Layers()
		if err != nil {
			return
		}
		for _, ly := range ls {
			rc, err := ly.Compressed()
			if err != nil {
				continue
			}
			io.Copy(io.Discard, rc)
			rc.Close()
		}
	})
}

// TestReadOCITarballMutations runs the fuzz body on deterministic
// mutations of a real archive (bytes changed, cut, inserted, truncated):
// every one must give an error or a readable image, never a panic.
func TestReadOCITarballMutations(t *testing.T) {
	p0 := filepath.Join(t.TempDir(), "seed.tar")
	require.NoError(t, WriteOCITarball(t.Context(), p0, testImage(t, 1), WithRefName("x")))
	seed, err := os.ReadFile(p0)
	require.NoError(t, err)
	rng := rand.New(rand.NewSource(2))
	dir := t.TempDir()
	opened := 0
	for i := 0; i < 1000; i++ {
		b := append([]byte(nil), seed...)
		for k := 0; k < 1+rng.Intn(6); k++ {
			switch j := rng.Intn(len(b)); rng.Intn(4) {
			case 0:
				b[j] = byte(rng.Intn(256))
			case 1:
				b = append(b[:j], b[j+rng.Intn(len(b)-j):]...)
			case 2:
				b = append(b[:j], append([]byte("77777777777"), b[j:]...)...)
			case 3:
				b = b[:j]
			}
			if len(b) == 0 {
				b = []byte{0}
			}
		}
		p := filepath.Join(dir, "in.tar")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		l, err := ReadOCITarball(p)
		if err != nil {
			continue
		}
		opened++
		if img, err := l.Image(""); err == nil {
			if ls, err := img.Layers(); err == nil {
				for _, ly := range ls {
					if rc, err := ly.Compressed(); err == nil {
						io.Copy(io.Discard, rc)
						rc.Close()
					}
				}
			}
		}
		l.Close()
	}
	t.Logf("%d of 1000 mutated archives still opened", opened)
}
