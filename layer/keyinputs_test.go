package layer

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestCacheKeyInputs changes one input of a layer at a time and builds
// every variant into one shared cache directory: each must come out as
// the same layer built without a cache. A key missing an input that
// changes the bytes would serve an earlier variant's entry instead.
func TestCacheKeyInputs(t *testing.T) {
	cacheDir := t.TempDir()
	// base is the tree every dir variant starts from.
	base := func(t *testing.T) string {
		d := t.TempDir()
		tree(t, d, "src/a.go", "src/b.go", "empty/", "link -> src/a.go", "notes.log")
		return d
	}
	ignore := func(t *testing.T, content string) string {
		p := filepath.Join(t.TempDir(), ".dockerignore")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	tarball := tartest.TempFile(t, "x.tar", tartest.Bytes(t,
		tartest.Dir("top/"), tartest.File("top/f", "one"), tartest.File("top/g", "two")))
	t0 := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name string
		mk   mkLayer
	}{
		{"dir", dirLayer(base)},
		{"dir WithRoot", dirLayer(base, WithRoot("/srv"))},
		{"dir WithStripComponents", dirLayer(base, WithStripComponents(1))},
		{"dir WithOnly", dirLayer(base, WithOnly("src"))},
		{"dir WithInclude", dirLayer(base, WithInclude("src/a.go"))},
		{"dir WithExclude", dirLayer(base, WithExclude("*.log"))},
		{"dir WithIgnoreFile *.log", func(t *testing.T, more ...Option) (v1.Layer, error) {
			return FromDir(base(t), append([]Option{WithIgnoreFile(ignore(t, "*.log\n"))}, more...)...)
		}},
		{"dir WithIgnoreFile src", func(t *testing.T, more ...Option) (v1.Layer, error) {
			return FromDir(base(t), append([]Option{WithIgnoreFile(ignore(t, "src\n"))}, more...)...)
		}},
		{"dir WithChmod", dirLayer(base, WithChmod("a+x"))},
		{"dir WithOwner", dirLayer(base, WithOwner(1, 2))},
		{"dir WithModTime", dirLayer(base, WithModTime(t0))},
		{"dir zstd", dirLayer(base, WithCompression(Zstd))},
		{"dir uncompressed", dirLayer(base, WithCompression(Uncompressed))},
		{"dir gzip level 9", dirLayer(base, WithLevel(9))},
		{"dir estargz", dirLayer(base, WithCompression(EStargz))},
		{"dir estargz prioritized", dirLayer(base, WithCompression(EStargz), WithPrioritizedFiles("/src/b.go"))},
		{"dir zstd:chunked", dirLayer(base, WithCompression(ZstdChunked))},
		{"dir docker media type", dirLayer(base, WithMediaType(types.DockerLayer))},
		{"dir content changed", dirLayer(func(t *testing.T) string {
			d := base(t)
			require.NoError(t, os.WriteFile(filepath.Join(d, "src/a.go"), []byte("A.go"), 0o644))
			return d
		})},
		{"dir mode changed", dirLayer(func(t *testing.T) string {
			d := base(t)
			chmod(t, filepath.Join(d, "src/a.go"), 0o755)
			return d
		})},
		{"dir hardlink", dirLayer(func(t *testing.T) string {
			d := base(t)
			require.NoError(t, os.Remove(filepath.Join(d, "src/b.go")))
			require.NoError(t, os.WriteFile(filepath.Join(d, "src/b.go"), []byte("a.go"), 0o644))
			return d
		})},
		{"dir hardlinked", dirLayer(func(t *testing.T) string {
			d := base(t)
			require.NoError(t, os.Remove(filepath.Join(d, "src/b.go")))
			hardlinks(t, d, "src/a.go", "src/b.go")
			return d
		})},
		{"tarball", tarballLayer(tarball)},
		{"tarball WithStripComponents", tarballLayer(tarball, WithStripComponents(1))},
		{"tarball WithModTime", tarballLayer(tarball, WithModTime(t0))},
		{"tarball WithPreserveOwner", tarballLayer(tarball, WithPreserveOwner())},
		{"files", filesLayer([]File{{Path: "f", Data: []byte("x")}})},
		{"files mtime", filesLayer([]File{{Path: "f", Data: []byte("x"), ModTime: t0}})},
		{"files mode", filesLayer([]File{{Path: "f", Data: []byte("x"), Mode: 0o600}})},
		{"files WithModTime", filesLayer([]File{{Path: "f", Data: []byte("x"), ModTime: t0}}, WithModTime(t0.Add(time.Hour)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, err := tc.mk(t)
			require.NoError(t, err)
			want := digestString(t, plain)
			for i := range 2 { // the second is a hit of the first
				cached, err := tc.mk(t, WithCache(cacheDir))
				require.NoError(t, err)
				assert.Equal(t, want, digestString(t, cached), "build %d: digest with the shared cache, without", i)
				check(t, cached)
			}
		})
	}
	// SOURCE_DATE_EPOCH is read at build time.
	for _, epoch := range []string{"1000", "2000"} {
		t.Run("SOURCE_DATE_EPOCH="+epoch, func(t *testing.T) {
			t.Setenv("SOURCE_DATE_EPOCH", epoch)
			mk := dirLayer(base)
			plain, err := mk(t)
			require.NoError(t, err)
			cached, err := mk(t, WithCache(cacheDir))
			require.NoError(t, err)
			assert.Equal(t, digestString(t, plain), digestString(t, cached), "digest with the shared cache, without")
		})
	}
}

type mkLayer func(t *testing.T, more ...Option) (v1.Layer, error)

// dirLayer makes the layer of the directory mk makes, with opts.
func dirLayer(mk func(t *testing.T) string, opts ...Option) mkLayer {
	return func(t *testing.T, more ...Option) (v1.Layer, error) {
		return FromDir(mk(t), append(slices.Clone(opts), more...)...)
	}
}

func tarballLayer(p string, opts ...Option) mkLayer {
	return func(t *testing.T, more ...Option) (v1.Layer, error) {
		return FromTarball(p, append(slices.Clone(opts), more...)...)
	}
}

func filesLayer(files []File, opts ...Option) mkLayer {
	return func(t *testing.T, more ...Option) (v1.Layer, error) {
		return FromFiles(files, append(slices.Clone(opts), more...)...)
	}
}
