package image

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"runtime"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// patternReader yields n bytes of a fixed 64 KiB pattern, allocating
// nothing per read.
type patternReader struct {
	pat []byte
	off int64
	n   int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if rem := r.n - r.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	k := 0
	for k < len(p) {
		c := copy(p[k:], r.pat[(r.off+int64(k))%int64(len(r.pat)):])
		k += c
	}
	r.off += int64(k)
	return k, nil
}

func (r *patternReader) Close() error { return nil }

// bigLayer is a layer of n bytes whose blob is generated on each read. Its
// bytes are not a real gzip stream: writes only copy and verify blobs.
type bigLayer struct {
	pat    []byte
	n      int64
	digest v1.Hash
}

func newBigLayer(n int64) *bigLayer {
	pat := make([]byte, 64<<10)
	for i := range pat {
		pat[i] = byte(i*7 + i>>8)
	}
	l := &bigLayer{pat: pat, n: n}
	h := sha256.New()
	io.Copy(h, l.reader())
	l.digest = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
	return l
}

func (l *bigLayer) reader() *patternReader              { return &patternReader{pat: l.pat, n: l.n} }
func (l *bigLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *bigLayer) DiffID() (v1.Hash, error)            { return l.digest, nil }
func (l *bigLayer) Size() (int64, error)                { return l.n, nil }
func (l *bigLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *bigLayer) Compressed() (io.ReadCloser, error) {
	return l.reader(), nil
}
func (l *bigLayer) Uncompressed() (io.ReadCloser, error) { return l.reader(), nil }

// TestWritesStream writes an image with a 128 MiB layer to each output and
// checks that the bytes allocated stay far below the layer size: blobs are
// streamed, not held.
func TestWritesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3 x 128 MiB")
	}
	const size = 128 << 20
	img, err := Build(t.Context(), nil, WithLayers(newBigLayer(size)))
	require.NoError(t, err)
	dir := t.TempDir()
	for name, write := range map[string]func() error{
		"WriteOCITarball":    func() error { return WriteOCITarball(t.Context(), filepath.Join(dir, "a.tar"), img) },
		"WriteOCILayout":     func() error { return WriteOCILayout(t.Context(), filepath.Join(dir, "layout"), img) },
		"WriteDockerTarball": func() error { return WriteDockerTarball(t.Context(), filepath.Join(dir, "d.tar"), "big:1", img) },
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		require.NoError(t, write(), name)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s of a %d MiB layer allocated %.1f MiB in total", name, size>>20, float64(alloc)/(1<<20))
		assert.LessOrEqual(t, alloc, uint64(16<<20), "%s: bytes allocated for a %d-byte layer (streamed: under 16 MiB)", name, size)
	}
}
