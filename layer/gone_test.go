package layer

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestGone: an entry a walk found (or a single file a stat found) that is
// removed before the build reads it, as an editor's temp file renamed
// away or a file `git checkout` unlinks and creates again, fails the build
// with ErrChanged (build again), not with the error of a missing file.
func TestGone(t *testing.T) {
	noRetries(t)
	for _, tc := range []struct {
		name string
		// build makes the source in dir, and removes the file p where
		// the build is about to read it.
		build func(t *testing.T, dir string) error
		entry string
	}{
		{"dir, as the key hashes it", func(t *testing.T, d string) error {
			tree(t, d, "a/x", "b")
			testHookHash = func(rel string) {
				if rel == "a/x" {
					require.NoError(t, os.Remove(filepath.Join(d, "a", "x")))
				}
			}
			return buildErr(t, Dir(d), WithCache(t.TempDir()))
		}, `entry "a/x"`},
		{"dir, as the walk stats it", func(t *testing.T, d string) error {
			tree(t, d, "a/x", "b")
			testHookLstat = func(rel string) {
				if rel == "b" {
					require.NoError(t, os.Remove(filepath.Join(d, "b")))
				}
			}
			return buildErr(t, Dir(d), WithTempDir(t.TempDir()))
		}, `entry "b"`},
		{"fs, a directory as the walk lists it", func(t *testing.T, d string) error {
			fsys := &goneFS{MapFS: fstest.MapFS{"a/x": {Data: []byte("x")}, "b": {Data: []byte("b")}}, gone: "a/x"}
			return buildErr(t, FS(fsys), WithTempDir(t.TempDir()))
		}, `entry "a"`},
		{"host file, as the key hashes it", func(t *testing.T, d string) error {
			p := filepath.Join(d, "f")
			writeFile(t, p, "one")
			testHookHash = func(string) { require.NoError(t, os.Remove(p)) }
			return buildErr(t, HostFile(p, "f"), WithCache(t.TempDir()))
		}, "the file was removed"},
		{"tarball, between the key and the write", func(t *testing.T, d string) error {
			p := filepath.Join(d, "f.tar")
			writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
			return buildErr(t, Tarball(p), WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
				if e.Kind == CacheMiss {
					require.NoError(t, os.Remove(p))
				}
			}))
		}, "the file was removed"},
		{"host file, between the key and the write", func(t *testing.T, d string) error {
			p := filepath.Join(d, "f")
			writeFile(t, p, "one")
			return buildErr(t, HostFile(p, "f"), WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
				if e.Kind == CacheMiss {
					require.NoError(t, os.Remove(p))
				}
			}))
		}, "the file was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { testHookHash, testHookLstat = nil, nil })
			err := tc.build(t, t.TempDir())
			require.ErrorIs(t, err, ErrChanged)
			assert.ErrorContains(t, err, tc.entry)
			assert.ErrorIs(t, err, fs.ErrNotExist, "the cause is kept")
		})
	}
}

// TestGoneNeverFound: a source missing from the start is not a change.
func TestGoneNeverFound(t *testing.T) {
	noRetries(t)
	p := filepath.Join(t.TempDir(), "missing")
	for _, src := range []Source{Tarball(p), HostFile(p, "f")} {
		for _, opt := range []LayerOption{WithCache(t.TempDir()), WithTempDir(t.TempDir())} {
			err := buildErr(t, src, opt)
			require.ErrorIs(t, err, fs.ErrNotExist)
			assert.NotErrorIs(t, err, ErrChanged)
		}
	}
}

func buildErr(t *testing.T, src Source, opts ...LayerOption) error {
	l, err := New(t.Context(), []Source{src}, opts...)
	require.NoError(t, err)
	_, err = l.Digest()
	return err
}

// goneFS is a MapFS whose file gone is removed once the top directory
// was listed, before its own directory is.
type goneFS struct {
	fstest.MapFS
	gone string
}

func (g *goneFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := g.MapFS.ReadDir(name)
	if name == "." {
		delete(g.MapFS, g.gone)
	}
	return ents, err
}

// TestReplacedByPipe: a tarball the cache key hashed as a regular file,
// replaced by a named pipe before the write, fails the build with
// ErrChanged: the pipe's bytes are not what the key hashed, and must not
// be stored under it.
func TestReplacedByPipe(t *testing.T) {
	noRetries(t)
	p := filepath.Join(t.TempDir(), "f.tar")
	writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
	cacheDir := t.TempDir()
	two := tartest.Bytes(t, tartest.File("f", "two"))
	fed := make(chan struct{})
	l, err := New(t.Context(), []Source{Tarball(p)}, WithCache(cacheDir), WithCacheEvents(func(e CacheEvent) {
		if e.Kind != CacheMiss {
			return
		}
		require.NoError(t, os.Remove(p))
		if err := mkfifo(p); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		go func() { // the pipe's writer, until the build closes it
			defer close(fed)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = f.Write(two)
		}()
	}))
	require.NoError(t, err)
	_, err = l.Digest()
	<-fed
	assert.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "the file was replaced")

	require.NoError(t, os.Remove(p))
	writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
	l, err = New(t.Context(), []Source{Tarball(p)}, WithCache(cacheDir))
	require.NoError(t, err)
	assert.Equal(t, `f 0 644 "one"`+"\n", summary(entries(t, l)))
}
