package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// busyboxBaseData makes a busybox-shaped base tree (once): one ~1 MB
// binary, 400 applet hardlinks to it, /etc files and empty directories,
// as the busybox image is (400-odd entries; about 1.3 MB uncompressed, as
// the hardlinks carry no content).
func busyboxBaseData(tb testing.TB) string {
	return generated(tb, "base-busybox", func(tmp string) error {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, d := range []string{"bin", "etc", "home", "root", "tmp", "usr/sbin", "var/spool/mail", "var/www"} {
			if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
				return err
			}
		}
		bin := filepath.Join(tmp, "bin", "busybox")
		if err := os.WriteFile(bin, fill(fill(nil, rng, 300<<10, false), rng, 1<<20, true), 0o755); err != nil {
			return err
		}
		for i := range 400 {
			if err := os.Link(bin, filepath.Join(tmp, "bin", fmt.Sprintf("applet%03d", i))); err != nil {
				return err
			}
		}
		for _, f := range []string{"passwd", "group", "shadow", "hosts", "resolv.conf"} {
			if err := os.WriteFile(filepath.Join(tmp, "etc", f), fill(nil, rng, 200, false), 0o644); err != nil {
				return err
			}
		}
		return chtimesTree(tmp)
	})
}

// bigBaseData makes a ~300 MB base tree (once), in three directories that
// become three layers: 4,500 files of source-like text and some
// incompressible assets, as a distribution base with a language runtime.
func bigBaseData(tb testing.TB) string {
	return generated(tb, "base-300mb-v2", func(tmp string) error {
		for l := range 3 {
			rng := rand.New(rand.NewPCG(5, uint64(l)))
			for i := range 1500 {
				dir := filepath.Join(tmp, fmt.Sprintf("layer%d", l), fmt.Sprintf("usr/lib/pkg%03d", i/30))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				size := 8<<10 + rng.IntN(40<<10)
				binary := i%10 == 0
				if binary {
					size = 200<<10 + rng.IntN(400<<10)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), fill(nil, rng, size, binary), 0o644); err != nil {
					return err
				}
			}
		}
		return chtimesTree(tmp)
	})
}

// chtimesTree gives every file under dir the data epoch.
func chtimesTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, dataEpoch, dataEpoch)
	})
}

// baseOf builds an image of one layer per directory of dirs.
func baseOf(ctx context.Context, dirs ...string) (v1.Image, error) {
	var ls []v1.Layer
	for _, d := range dirs {
		l, err := layer.FromDir(d)
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return image.Build(ctx, nil, image.WithLayers(ls...))
}

// BenchmarkBaseIndex measures what placing layers on a base costs the
// first time the base is seen (cold: its layers downloaded from an
// in-process registry, decompressed and indexed with a sha256 of every
// file), and once the index is in the cache (warm: the index read back;
// nothing downloaded).
func BenchmarkBaseIndex(b *testing.B) {
	ctx := context.Background()
	big := bigBaseData(b)
	for _, c := range []struct {
		name string
		dirs []string
	}{
		{"busybox", []string{busyboxBaseData(b)}},
		{"300MB", []string{filepath.Join(big, "layer0"), filepath.Join(big, "layer1"), filepath.Join(big, "layer2")}},
	} {
		base, err := baseOf(ctx, c.dirs...)
		require.NoError(b, err)
		var size int64
		ls, err := base.Layers()
		require.NoError(b, err)
		for _, l := range ls {
			rc, err := l.Uncompressed()
			require.NoError(b, err)
			n, err := discardCount(rc)
			require.NoError(b, err)
			size += n
		}
		srv, err := registrytest.Start()
		require.NoError(b, err)
		ref := srv.Ref("library/base:" + c.name)
		_, err = registry.Push(ctx, ref, base)
		require.NoError(b, err)
		for _, phase := range []string{"cold", "warm"} {
			b.Run(c.name+"/"+phase, func(b *testing.B) {
				b.SetBytes(size)
				cacheRoot := scratchDir(b, "index-")
				cache, n := cacheRoot, 0
				load := func() {
					img, err := registry.Pull(ctx, ref)
					require.NoError(b, err)
					tree, err := image.NewTree(img, cache)
					require.NoError(b, err)
					require.NoError(b, tree.Load(ctx))
				}
				setup := func() {
					if phase == "cold" {
						n++
						cache = filepath.Join(cacheRoot, fmt.Sprint(n))
					}
				}
				if phase == "warm" {
					load()
				}
				srv.ResetStats()
				way(b, setup, load)
				if phase == "warm" {
					require.LessOrEqual(b, srv.Stats().BlobGETs, b.N, "warm: blob downloads in %d runs: want only the config's", b.N)
				}
			})
		}
		srv.Close()
	}
}
