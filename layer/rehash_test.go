package layer

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestRehashCancelled: a single-file source touched between its cache
// key and the write is hashed again (see sameContent); that read is one
// like the others, which the hook sees and the build's context stops.
func TestRehashCancelled(t *testing.T) {
	noRetries(t)
	for _, kind := range []string{"host file", "tarball"} {
		t.Run(kind, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f.tar")
			writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
			src := HostFile(p, "f")
			if kind == "tarball" {
				src = Tarball(p)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var hashes atomic.Int64
			testHookHash = func(string) {
				if hashes.Add(1) == 2 { // the key's, then the write's
					cancel()
				}
			}
			t.Cleanup(func() { testHookHash = nil })
			l, err := New(ctx, []Source{src}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
				if e.Kind == CacheMiss {
					require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)))
				}
			}))
			require.NoError(t, err)
			_, err = l.Digest()
			require.ErrorIs(t, err, context.Canceled)
			assert.EqualValues(t, 2, hashes.Load(), "files hashed")
		})
	}
}

// TestRehashWrittenTo: a file written to since the first read, found so
// by its stat, fails the build with ErrChanged saying so, also when it was
// racily clean (changed just before the build, so hashed by every read):
// the change is not one its stat could not show.
func TestRehashWrittenTo(t *testing.T) {
	noRetries(t)
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = time.Hour // every file is racily clean
	t.Run("dir, between the key and the write", func(t *testing.T) {
		d := t.TempDir()
		p := filepath.Join(d, "f")
		writeFile(t, p, "one")
		l, err := New(t.Context(), []Source{Dir(d)}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
			if e.Kind == CacheMiss {
				writeFile(t, p, "two")
				require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)))
			}
		}))
		require.NoError(t, err)
		_, err = l.Digest()
		require.ErrorIs(t, err, ErrChanged)
		assert.ErrorContains(t, err, `entry "f"`)
		assert.ErrorContains(t, err, "written to since the first read")
	})
	t.Run("host file, between two Facts", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		writeFile(t, p, "one")
		l, err := New(t.Context(), []Source{HostFile(p, "f")}, WithTempDir(t.TempDir()))
		require.NoError(t, err)
		_, err = l.(Recorder).Facts(t.Context()) // hashes the file
		require.NoError(t, err)
		writeFile(t, p, "two")
		require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)))
		_, err = l.(Recorder).Facts(t.Context())
		require.ErrorIs(t, err, ErrChanged)
		assert.ErrorContains(t, err, "written to since the first read")
	})
}

// TestChangedWhy: the reasons of ErrChanged read as sentences for a
// single-file source ("the file was ...") as for an entry.
func TestChangedWhy(t *testing.T) {
	noRetries(t)
	r := &racySums{sums: map[string]string{".": "one"}}
	err := r.agree(".", "two")
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "the file was changed since the first read within its mtime's clock tick")

	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "one")
	l, err := New(t.Context(), []Source{HostFile(p, "f")}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
		if e.Kind == CacheMiss {
			require.NoError(t, os.Chmod(p, 0o755))
		}
	}))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "the file was changed in type, mode or link target since the first read")
}

// TestChangedWhileReadRacily: a racily clean file written to while the
// write reads it, with its stat changed, fails with the reason its stat
// gives, not with that of a change its stat could not show.
func TestChangedWhileReadRacily(t *testing.T) {
	noRetries(t)
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = time.Hour
	fsys := &editedFS{MapFS: fstest.MapFS{"f": {Data: []byte("one"), ModTime: time.Now()}}}
	l, err := New(t.Context(), []Source{FS(fsys)}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
		if e.Kind != CacheMiss {
			return
		}
		fsys.MapFS["f"].Data = []byte("two") // same size, same stat
		fsys.onRead = func() { fsys.MapFS["f"].ModTime = time.Now().Add(time.Hour) }
	}))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "written to while it was read")
}
