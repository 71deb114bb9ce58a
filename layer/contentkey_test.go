package layer

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// copyTree copies the tree at src to dst (new inodes), modes and symlinks
// kept, and sets every mtime to mtime.
func copyTree(t *testing.T, src, dst string, mtime time.Time) {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			dirs = append(dirs, out)
			return os.MkdirAll(out, fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, fi.Mode().Perm()); err != nil {
				return err
			}
			if err := os.Chmod(out, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(out, mtime, mtime)
		}
	})
	require.NoError(t, err)
	for _, d := range dirs {
		require.NoError(t, os.Chmod(d, 0o755))
		require.NoError(t, os.Chtimes(d, mtime, mtime))
	}
}

// cacheKeyOf builds the layer made by mk with a cache dir and returns the
// key it was looked up by and its digest.
func cacheKeyOf(t *testing.T, cacheDir string, mk func(...Option) (v1.Layer, error)) (key string, digest v1.Hash) {
	t.Helper()
	var events []CacheEvent
	l, err := mk(WithCache(cacheDir), WithCacheEvents(func(e CacheEvent) { events = append(events, e) }))
	require.NoError(t, err)
	digest, err = l.Digest()
	require.NoError(t, err)
	require.NotEmpty(t, events, "no cache event")
	return events[0].Key, digest
}

// countHashes counts the files read to compute content keys.
func countHashes(t *testing.T) *atomic.Int64 {
	n := new(atomic.Int64)
	testHookHash = func(string) { n.Add(1) }
	t.Cleanup(func() { testHookHash = nil })
	return n
}

func TestContentKeys(t *testing.T) {
	later := time.Now().Add(time.Hour)
	fromDir := func(d string, opts ...Option) func(...Option) (v1.Layer, error) {
		return func(more ...Option) (v1.Layer, error) { return FromDir(d, append(opts, more...)...) }
	}
	for _, tc := range []struct {
		name string
		// change makes the second tree from a copy of the first.
		change  func(t *testing.T, d string)
		opts    []Option // of the second layer
		sameKey bool
	}{
		{name: "fresh copy: new inodes and mtimes", change: func(*testing.T, string) {}, sameKey: true},
		{name: "content changed, same size", change: func(t *testing.T, d string) {
			require.NoError(t, os.WriteFile(filepath.Join(d, "src/a.go"), []byte("A.go"), 0o644))
		}},
		{name: "mode changed", change: func(t *testing.T, d string) { chmod(t, filepath.Join(d, "src/a.go"), 0o755) }},
		{name: "symlink target changed", change: func(t *testing.T, d string) {
			require.NoError(t, os.Remove(filepath.Join(d, "link")))
			require.NoError(t, os.Symlink("src/b.go", filepath.Join(d, "link")))
		}},
		{name: "file renamed", change: func(t *testing.T, d string) {
			require.NoError(t, os.Rename(filepath.Join(d, "src/a.go"), filepath.Join(d, "src/c.go")))
		}},
		{name: "empty directory added", change: func(t *testing.T, d string) { tree(t, d, "new/") }},
		{name: "other owner", change: func(*testing.T, string) {}, opts: []Option{WithOwner(1000, 1000)}},
		{name: "other root", change: func(*testing.T, string) {}, opts: []Option{WithRoot("/srv")}},
		{name: "excluded file changed", change: func(t *testing.T, d string) {
			require.NoError(t, os.WriteFile(filepath.Join(d, "notes.log"), []byte("other notes"), 0o644))
		}, opts: []Option{WithExclude("*.log")}, sameKey: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			tree(t, a, "src/a.go", "src/b.go", "empty/", "link -> src/a.go", "notes.log")
			copyTree(t, a, b, later)
			tc.change(t, b)
			first := []Option{WithExclude("*.log")}
			if tc.opts == nil {
				tc.opts = first
			}
			ka, da := cacheKeyOf(t, t.TempDir(), fromDir(a, first...))
			kb, db := cacheKeyOf(t, t.TempDir(), fromDir(b, tc.opts...))
			if tc.sameKey {
				assert.Equal(t, ka, kb, "keys of the two trees")
				assert.Equal(t, da, db, "digests of the two trees")
			} else {
				assert.NotEqual(t, ka, kb, "keys of the two trees")
				assert.NotEqual(t, da, db, "digests of the two trees")
			}
		})
	}
}

// TestContentKeyReads: an unchanged tree is keyed by a stat walk alone; a
// fresh copy is read once to hash it, and found in the cache without a
// build.
func TestContentKeyReads(t *testing.T) {
	cacheDir := t.TempDir()
	a, b := t.TempDir(), t.TempDir()
	tree(t, a, "a", "sub/b", "sub/c", "l -> a")
	copyTree(t, a, b, time.Now().Add(time.Hour))
	tarA := tartest.TempFile(t, "x.tar", tartest.Bytes(t, tartest.File("f", "one"), tartest.File("g", "two")))
	tarB := tartest.TempFile(t, "y.tar", tartest.Bytes(t, tartest.File("f", "one"), tartest.File("g", "two")))
	require.NoError(t, os.Chtimes(tarB, time.Now().Add(time.Hour), time.Now().Add(time.Hour)))
	hashes, builds := countHashes(t), countBuilds(t)
	for _, tc := range []struct {
		name           string
		mk             func(...Option) (v1.Layer, error)
		hashes, builds int
	}{
		{"dir, first build", func(o ...Option) (v1.Layer, error) { return FromDir(a, o...) }, 3, 1},
		{"dir, unchanged", func(o ...Option) (v1.Layer, error) { return FromDir(a, o...) }, 0, 0},
		{"dir, fresh copy", func(o ...Option) (v1.Layer, error) { return FromDir(b, o...) }, 3, 0},
		{"dir, fresh copy again", func(o ...Option) (v1.Layer, error) { return FromDir(b, o...) }, 0, 0},
		{"tarball, first build", func(o ...Option) (v1.Layer, error) { return FromTarball(tarA, o...) }, 1, 1},
		{"tarball, unchanged", func(o ...Option) (v1.Layer, error) { return FromTarball(tarA, o...) }, 0, 0},
		{"tarball, fresh copy", func(o ...Option) (v1.Layer, error) { return FromTarball(tarB, o...) }, 1, 0},
	} {
		hashes.Store(0)
		*builds = 0
		cacheKeyOf(t, cacheDir, tc.mk)
		assert.Equal(t, int64(tc.hashes), hashes.Load(), "%s: files hashed", tc.name)
		assert.Equal(t, tc.builds, *builds, "%s: builds", tc.name)
	}
}

// TestRacyClean: the content hash of a tree with a file changed within
// racyWindow of the hash is not remembered (a change after the stat
// could leave the stat as it was, on a file system with coarse times):
// the next build hashes again; once the window is past, it is remembered.
func TestRacyClean(t *testing.T) {
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	cacheDir, d := t.TempDir(), t.TempDir()
	tree(t, d, "a", "sub/b")
	tb := tartest.TempFile(t, "x.tar", tartest.Bytes(t, tartest.File("f", "one")))
	hashes := countHashes(t)
	for _, tc := range []struct {
		name   string
		window time.Duration
		hashes int64
	}{
		{"just changed", time.Hour, 2 + 1},
		{"just changed, again", time.Hour, 2 + 1},
		{"the window past", 0, 2 + 1},
		{"the window past, again", 0, 0},
	} {
		racyWindow = tc.window
		hashes.Store(0)
		cacheKeyOf(t, cacheDir, func(o ...Option) (v1.Layer, error) { return FromDir(d, o...) })
		cacheKeyOf(t, cacheDir, func(o ...Option) (v1.Layer, error) { return FromTarball(tb, o...) })
		assert.Equal(t, tc.hashes, hashes.Load(), "%s: files hashed", tc.name)
	}
}

// TestContentKeyChangedDuringWalk: a file that grows between the stat
// walk and its hashing fails the key, not the layer's content.
func TestContentKeyChangedDuringWalk(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "a")
	testHookHash = func(string) {
		require.NoError(t, os.WriteFile(filepath.Join(d, "a"), []byte("longer now"), 0o644))
	}
	t.Cleanup(func() { testHookHash = nil })
	l, err := FromDir(d, WithCache(t.TempDir()))
	require.NoError(t, err)
	_, err = l.Digest()
	assert.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, `entry "a"`)
	if err != nil {
		assert.Equal(t, 1, strings.Count(err.Error(), `entry "a"`), "times %q names the entry", err)
	}
}

func TestCacheLimit(t *testing.T) {
	cacheDir := t.TempDir()
	const size, limit = 64 << 10, 100 << 10
	mk := func(i int) (v1.Layer, error) {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte((i*7919 + j*j) >> 3)
		}
		return FromFiles([]File{{Path: "f", Data: data}}, WithCompression(Uncompressed), WithCache(cacheDir), WithCacheLimit(limit))
	}
	for i := range 3 {
		l, err := mk(i)
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
	}
	var total int64
	blobs, err := filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	require.NoError(t, err)
	for _, b := range blobs {
		fi, err := os.Stat(b)
		require.NoError(t, err)
		total += fi.Size()
	}
	assert.LessOrEqual(t, total, int64(limit), "bytes of blobs in the cache")

	builds := countBuilds(t)
	for _, tc := range []struct {
		i      int
		builds int
	}{{2, 0}, {0, 1}} {
		*builds = 0
		l, err := mk(tc.i)
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
		assert.Equal(t, tc.builds, *builds, "layer %d: builds (the last stored stays, the first was evicted)", tc.i)
	}
}

func TestPruneCache(t *testing.T) {
	cacheDir := t.TempDir()
	files := []File{{Path: "f", Data: []byte("content")}}
	build := func() {
		l, err := FromFiles(files, WithCache(cacheDir))
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
	}
	build()
	builds := countBuilds(t)
	build()
	require.Equal(t, 0, *builds, "builds before PruneCache")
	require.NoError(t, PruneCache(cacheDir, 0))
	build()
	assert.Equal(t, 1, *builds, "builds after PruneCache(dir, 0)")

	missing := filepath.Join(t.TempDir(), "none")
	assert.NoError(t, PruneCache(missing, 0), "PruneCache(missing dir, 0)")
	assert.NoDirExists(t, missing, "PruneCache(missing dir, 0) created it")
	assert.ErrorIs(t, PruneCache(cacheDir, -1), ErrInvalidOption, "PruneCache(dir, -1)")
}

func TestCacheOptionsInvalid(t *testing.T) {
	files := []Source{Files([]File{{Path: "f"}})}
	for _, tc := range []struct {
		name string
		opts []LayerOption
	}{
		{"limit without cache", []LayerOption{WithCacheLimit(1 << 20)}},
		{"zero limit", []LayerOption{WithCache(t.TempDir()), WithCacheLimit(0)}},
		{"nil remote", []LayerOption{WithRemoteCache(nil)}},
		{"nil events", []LayerOption{WithCacheEvents(nil)}},
	} {
		_, err := New(t.Context(), files, tc.opts...)
		assert.ErrorIs(t, err, ErrInvalidOption, tc.name)
	}
}

// TestCacheLimitEvictsInUse: an entry evicted by a later layer's commit
// (WithCacheLimit) is still served to the layer that built it or found
// it, as image.Build needs when it writes layers built one after another
// into a cache smaller than all of them; a layer over the limit alone is
// served too, whatever the records stored after it evict.
func TestCacheLimitEvictsInUse(t *testing.T) {
	const size, limit = 64 << 10, 100 << 10
	data := func(i int) []byte {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte((i*7919 + j*j) >> 3)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		sizes []int // of the layers, built in turn
		warm  bool  // the cache has the first layer before
	}{
		{name: "built, then evicted by the next", sizes: []int{size, size}},
		{name: "hit, then evicted by the next", sizes: []int{size, size}, warm: true},
		{name: "one layer over the limit", sizes: []int{2 * limit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cacheDir := t.TempDir()
			mk := func(i int) v1.Layer {
				l, err := FromFiles([]File{{Path: "f", Data: data(i)[:min(size, tc.sizes[i])]}, {Path: "g", Data: make([]byte, max(0, tc.sizes[i]-size))}},
					WithCompression(Uncompressed), WithCache(cacheDir), WithCacheLimit(limit))
				require.NoError(t, err)
				return l
			}
			if tc.warm {
				_, err := mk(0).Digest()
				require.NoError(t, err)
			}
			var ls []v1.Layer
			for i := range tc.sizes {
				l := mk(i)
				_, err := l.Digest()
				require.NoError(t, err)
				ls = append(ls, l)
			}
			for _, l := range ls {
				check(t, l)
			}
		})
	}
}
