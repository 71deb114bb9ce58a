package layer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestChangedBeforeWrite: a source edited after its cache key was
// computed and before the layer is written fails the build with
// ErrChanged, so the cache never holds the new bytes under the old
// content's key: once the edit is undone, the build gives the old bytes.
func TestChangedBeforeWrite(t *testing.T) {
	noRetries(t)
	for _, tc := range []struct {
		name string
		// src is the source, and set(content) writes its one file.
		src func(dir string) (Source, func(content string))
		// entry is what the error names.
		entry string
	}{
		{"dir", func(dir string) (Source, func(string)) {
			return Dir(dir), func(c string) { writeFile(t, filepath.Join(dir, "f"), c) }
		}, `entry "f"`},
		{"host file", func(dir string) (Source, func(string)) {
			p := filepath.Join(dir, "f")
			return HostFile(p, "f"), func(c string) { writeFile(t, p, c) }
		}, "the file was written to"},
		{"tarball", func(dir string) (Source, func(string)) {
			p := filepath.Join(dir, "f.tar")
			return Tarball(p), func(c string) {
				writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", c))))
			}
		}, "the file was written to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, set := tc.src(t.TempDir())
			cacheDir := t.TempDir()
			build := func(onMiss func()) (v1.Layer, error) {
				l, err := New(t.Context(), []Source{src}, WithCache(cacheDir), WithCacheEvents(func(e CacheEvent) {
					if e.Kind == CacheMiss && onMiss != nil {
						onMiss()
					}
				}))
				require.NoError(t, err)
				_, err = l.Digest()
				return l, err
			}
			set("one")
			_, err := build(func() { set("two") })
			assert.ErrorIs(t, err, ErrChanged)
			assert.ErrorContains(t, err, tc.entry)

			l, err := build(nil)
			require.NoError(t, err)
			assert.Equal(t, `f 0 644 "two"`+"\n", summary(entries(t, l)))
			set("one")
			l, err = build(nil)
			require.NoError(t, err)
			assert.Equal(t, `f 0 644 "one"`+"\n", summary(entries(t, l)), "the bytes built after the edit were cached under the old content's key")
		})
	}
}

// TestChangedRetried: a build that finds its source changed starts again,
// reading it afresh: an edit made once during a build gives a layer of
// the edited content, and the cache still gives each content its own
// bytes. An edit made during every attempt fails the build with
// ErrChanged after changedRetries more attempts.
func TestChangedRetried(t *testing.T) {
	d, cacheDir := t.TempDir(), t.TempDir()
	p := filepath.Join(d, "f")
	build := func(edit func(attempt int)) (v1.Layer, int, error) {
		misses := 0
		l, err := New(t.Context(), []Source{Dir(d)}, WithCache(cacheDir), WithCacheEvents(func(e CacheEvent) {
			if e.Kind == CacheMiss {
				misses++
				edit(misses)
			}
		}))
		require.NoError(t, err)
		_, err = l.Digest()
		return l, misses, err
	}
	writeFile(t, p, "one")
	l, misses, err := build(func(attempt int) {
		if attempt == 1 {
			writeFile(t, p, "two")
		}
	})
	require.NoError(t, err)
	assert.Equal(t, 2, misses, "attempts")
	assert.Equal(t, `f 0 644 "two"`+"\n", summary(entries(t, l)))
	writeFile(t, p, "one")
	l, _, err = build(func(int) {})
	require.NoError(t, err)
	assert.Equal(t, `f 0 644 "one"`+"\n", summary(entries(t, l)), "the layer of the content before the edit")

	writeFile(t, p, "new") // not in the cache: the build misses
	_, misses, err = build(func(attempt int) { writeFile(t, p, fmt.Sprintf("%03d", attempt)) })
	require.ErrorIs(t, err, ErrChanged)
	assert.Equal(t, 1+changedRetries, misses, "attempts")
}

// TestChangedAfterBuild: Facts of a layer built without a cache hashes a
// directory again; when the directory changed since, that hash would
// not describe the layer's bytes, and Facts fails.
func TestChangedAfterBuild(t *testing.T) {
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "f"), "one")
	l, err := New(t.Context(), []Source{Dir(d)}, WithTempDir(t.TempDir()))
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err)
	writeFile(t, filepath.Join(d, "f"), "two")
	_, err = l.(Recorder).Facts(t.Context())
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, `entry "f"`)

	// Untouched, Facts gives the content hash.
	d2 := t.TempDir()
	writeFile(t, filepath.Join(d2, "f"), "one")
	l2, err := New(t.Context(), []Source{Dir(d2)}, WithTempDir(t.TempDir()))
	require.NoError(t, err)
	f, err := l2.(Recorder).Facts(t.Context())
	require.NoError(t, err)
	assert.Len(t, f.Inputs, 1)
}

// TestChangedDuringRead: a file written to while the layer reads it
// (its stat, taken again once its bytes are read, differs) fails the
// build rather than giving its torn content.
func TestChangedDuringRead(t *testing.T) {
	noRetries(t)
	fsys := &editedFS{MapFS: fstest.MapFS{"f": {Data: []byte("one"), ModTime: time.Unix(1e9, 0)}}}
	fsys.onRead = func() { fsys.MapFS["f"].ModTime = time.Unix(2e9, 0) }
	l, err := New(t.Context(), []Source{FS(fsys)}, WithTempDir(t.TempDir()))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, `entry "f"`)
	assert.Equal(t, 1, strings.Count(err.Error(), `entry "f"`), "times %q names the entry", err)
	assert.ErrorContains(t, err, "while it was read")
}

// TestChangedRacily: a file changed less than racyWindow before the key
// hashed it may be changed again in the same clock tick with its stat
// left as it was (a coarse-time file system); its content is hashed by
// every read, and a change is found by its hash.
func TestChangedRacily(t *testing.T) {
	noRetries(t)
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = time.Hour
	for _, racy := range []bool{true, false} {
		mtime := time.Now()
		if !racy {
			mtime = mtime.Add(-2 * time.Hour)
		}
		fsys := &editedFS{MapFS: fstest.MapFS{"f": {Data: []byte("one"), ModTime: mtime}}}
		l, err := New(t.Context(), []Source{FS(fsys)}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
			if e.Kind == CacheMiss {
				fsys.MapFS["f"].Data = []byte("two") // same size, same stat
			}
		}))
		require.NoError(t, err)
		_, err = l.Digest()
		if racy {
			require.ErrorIs(t, err, ErrChanged)
			assert.ErrorContains(t, err, `entry "f"`)
			assert.ErrorContains(t, err, "clock tick")
		} else {
			// Not racy: the stat is trusted, as it is for every other file.
			require.NoError(t, err)
		}
	}
}

// TestChangedRacilyAfterBuild: without a cache the write is the first
// read of a source; a racily clean file must be hashed by it too, so that
// Facts, which reads the file again, finds a change its stat cannot show.
func TestChangedRacilyAfterBuild(t *testing.T) {
	noRetries(t)
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = time.Hour
	fsys := &editedFS{MapFS: fstest.MapFS{"f": {Data: []byte("one"), ModTime: time.Now()}}}
	l, err := New(t.Context(), []Source{FS(fsys)}, WithTempDir(t.TempDir()))
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err)
	fsys.MapFS["f"].Data = []byte("two") // same size, same stat
	_, err = l.(Recorder).Facts(t.Context())
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, `entry "f"`)
	assert.ErrorContains(t, err, "clock tick")
}

// TestChangedBeforeRebuild: a cache hit whose entry turns out corrupt
// is rebuilt when its bytes are read; a source changed since the hit's
// key rebuilds other bytes than the digest reported, and the read fails
// with ErrChanged (build again), as any change during a build does.
func TestChangedBeforeRebuild(t *testing.T) {
	noRetries(t)
	d, cacheDir := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(d, "f"), "one")
	l, err := New(t.Context(), []Source{Dir(d)}, WithCache(cacheDir))
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err)
	blobs, err := filepath.Glob(filepath.Join(cacheDir, "blobs", "sha256", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, blobs)
	for _, b := range blobs { // corrupt, keeping the size
		data, err := os.ReadFile(b)
		require.NoError(t, err)
		data[len(data)/2] ^= 0xff
		require.NoError(t, os.WriteFile(b, data, 0o644))
	}

	hit, err := New(t.Context(), []Source{Dir(d)}, WithCache(cacheDir))
	require.NoError(t, err)
	require.NoError(t, hit.(Computable).Compute(t.Context()))
	require.True(t, hit.(Cached).CacheHit())
	writeFile(t, filepath.Join(d, "f"), "two")
	_, err = hit.Compressed()
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "rebuilt digest")
}

// TestChangedWhileKeyed: a single-file source written to as its cache
// key reads it fails the build with ErrChanged, and the error names the
// file (its history names only its destination).
func TestChangedWhileKeyed(t *testing.T) {
	noRetries(t)
	p := filepath.Join(t.TempDir(), "f.tar")
	for _, src := range []Source{Tarball(p), HostFile(p, "x")} {
		writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
		testHookHash = func(string) { writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "two!")))) }
		t.Cleanup(func() { testHookHash = nil })
		l, err := New(t.Context(), []Source{src}, WithCache(t.TempDir()))
		require.NoError(t, err)
		_, err = l.Digest()
		require.ErrorIs(t, err, ErrChanged)
		assert.ErrorContains(t, err, p)
	}
}

// TestSameContent: a file whose stat changes but not its content (a
// touch, a save of the same bytes, a replacement by rename) between the
// cache key's hash and the write does not fail the build: the write
// hashes it again, and the layer has that content.
func TestSameContent(t *testing.T) {
	noRetries(t)
	for _, edit := range []struct {
		name string
		do   func(t *testing.T, p string)
	}{
		{"touch", func(t *testing.T, p string) {
			require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour)))
		}},
		{"same bytes", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}},
		{"renamed over", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p+".new", b, 0o644))
			require.NoError(t, os.Rename(p+".new", p))
		}},
	} {
		for _, kind := range []string{"dir", "host file", "tarball"} {
			t.Run(edit.name+"/"+kind, func(t *testing.T) {
				d := t.TempDir()
				var src Source
				var p, want string
				switch kind {
				case "dir":
					p, want = filepath.Join(d, "f"), `f 0 644 "one"`+"\n"
					writeFile(t, p, "one")
					src = Dir(d)
				case "host file":
					p, want = filepath.Join(d, "f"), `f 0 644 "one"`+"\n"
					writeFile(t, p, "one")
					src = HostFile(p, "f")
				case "tarball":
					p, want = filepath.Join(d, "f.tar"), `f 0 644 "one"`+"\n"
					writeFile(t, p, string(tartest.Bytes(t, tartest.File("f", "one"))))
					src = Tarball(p)
				}
				l, err := New(t.Context(), []Source{src}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
					if e.Kind == CacheMiss {
						edit.do(t, p)
					}
				}))
				require.NoError(t, err)
				_, err = l.Digest()
				require.NoError(t, err)
				assert.Equal(t, want, summary(entries(t, l)))
			})
		}
	}
}

// TestSameContentThenChanged: a file found touched and hashed again is
// hashed by the reads that follow too: its new stat cannot show a change
// made in the same clock tick as the touch (here, one that keeps the stat
// as it is, just after the second hash).
func TestSameContentThenChanged(t *testing.T) {
	noRetries(t)
	fsys := &editedFS{MapFS: fstest.MapFS{"f": {Data: []byte("one"), ModTime: time.Unix(1e9, 0)}}}
	l, err := New(t.Context(), []Source{FS(fsys)}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
		if e.Kind != CacheMiss {
			return
		}
		fsys.MapFS["f"].ModTime = time.Unix(2e9, 0) // a touch
		// As the touched file is hashed again:
		fsys.onRead = func() {
			fsys.MapFS["f"].Data = []byte("two")
			fsys.onRead = nil
		}
	}))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, `entry "f"`)
}

// TestTouchedRemembered: when the local cache remembered the tree's hash
// by its stat, the key hashed no file, and a file touched before the
// write cannot be told unchanged: the build fails with ErrChanged.
func TestTouchedRemembered(t *testing.T) {
	noRetries(t)
	d, cacheDir := t.TempDir(), t.TempDir()
	p := filepath.Join(d, "f")
	writeFile(t, p, "one")
	build := func(root string, onMiss func()) error {
		l, err := New(t.Context(), []Source{Dir(d, WithRoot(root))}, WithCache(cacheDir), WithCacheEvents(func(e CacheEvent) {
			if e.Kind == CacheMiss && onMiss != nil {
				onMiss()
			}
		}))
		require.NoError(t, err)
		_, err = l.Digest()
		return err
	}
	require.NoError(t, build("/a", nil)) // remembers the tree's hash
	hashes := countHashes(t)
	err := build("/b", func() { require.NoError(t, os.Chtimes(p, time.Now(), time.Now().Add(time.Hour))) })
	require.Zero(t, hashes.Load(), "files hashed by the key of the second build")
	require.ErrorIs(t, err, ErrChanged)
}

// TestUnchangedTouched: a second walk that finds the same entries,
// directories whose times changed included (a file created and removed
// in them), builds.
func TestUnchangedTouched(t *testing.T) {
	noRetries(t)
	d := t.TempDir()
	tree(t, d, "a/x", "b")
	l, err := New(t.Context(), []Source{Dir(d, WithExclude("a/tmp"))}, WithCache(t.TempDir()), WithCacheEvents(func(e CacheEvent) {
		if e.Kind == CacheMiss {
			p := filepath.Join(d, "a", "tmp")
			writeFile(t, p, "scratch") // excluded, and its directory's mtime changes
			require.NoError(t, os.Chtimes(filepath.Join(d, "a"), time.Now(), time.Now().Add(time.Hour)))
		}
	}))
	require.NoError(t, err)
	_, err = l.Digest()
	assert.NoError(t, err)
}

// TestCheckedReader: the reader of a walked file reports a file cut short
// or written to while it was read, and reads an unchanged one whole.
func TestCheckedReader(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "f")
	writeFile(t, p, "content")
	fi, err := os.Stat(p)
	require.NoError(t, err)
	stat := func() (fs.FileInfo, error) { return os.Stat(p) }

	got, err := io.ReadAll(newCheckedReader(bytes.NewReader([]byte("content")), stat, fi))
	require.NoError(t, err)
	assert.Equal(t, "content", string(got))

	_, err = io.ReadAll(newCheckedReader(bytes.NewReader([]byte("cont")), stat, fi))
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "cut short")

	r := newCheckedReader(bytes.NewReader([]byte("content")), stat, fi)
	writeFile(t, p, "CONTENT")
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, ErrChanged)
	assert.ErrorContains(t, err, "written to while it was read")
}

// editedFS is a MapFS whose files' stats carry system data (so that their
// times count, as an os.DirFS's do), and that calls onRead as the last
// byte of a file is read.
type editedFS struct {
	fstest.MapFS
	onRead func()
}

func (e *editedFS) Open(name string) (fs.File, error) {
	f, err := e.MapFS.Open(name)
	if err != nil {
		return nil, err
	}
	return &editedFile{File: f, fsys: e}, nil
}

func (e *editedFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := e.MapFS.ReadDir(name)
	for i, d := range ents {
		ents[i] = sysEntry{d}
	}
	return ents, err
}

type editedFile struct {
	fs.File
	fsys *editedFS
	n    int64
}

func (f *editedFile) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.n += int64(n)
	if fi, serr := f.File.Stat(); serr == nil && n > 0 && f.n == fi.Size() && f.fsys.onRead != nil {
		f.fsys.onRead() // with the last byte read
	}
	return n, err
}

func (f *editedFile) Stat() (fs.FileInfo, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	// A MapFS file's Stat is taken when it is opened: take it again.
	name := fi.Name()
	if mf, ok := f.fsys.MapFS[name]; ok {
		return sysInfo{fileInfo{name: name, f: mf}}, nil
	}
	return sysInfo{fi}, nil
}

type sysEntry struct{ fs.DirEntry }

func (e sysEntry) Info() (fs.FileInfo, error) {
	fi, err := e.DirEntry.Info()
	if err != nil {
		return nil, err
	}
	return sysInfo{fi}, nil
}

// sysInfo is a FileInfo with system data.
type sysInfo struct{ fs.FileInfo }

func (sysInfo) Sys() any { return "stat" }

// fileInfo is the FileInfo of a MapFile, as it is now.
type fileInfo struct {
	name string
	f    *fstest.MapFile
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return int64(len(i.f.Data)) }
func (i fileInfo) Mode() fs.FileMode  { return i.f.Mode }
func (i fileInfo) ModTime() time.Time { return i.f.ModTime }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

// noRetries makes the builds of t fail at the first ErrChanged, for the
// tests of what finds a change (see changedRetries).
func noRetries(t *testing.T) {
	old := changedRetries
	changedRetries = 0
	t.Cleanup(func() { changedRetries = old })
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// TestChangedUnderChurn: builds with a cache while another goroutine keeps
// rewriting a file with one of two contents of the same size. Builds may
// fail with ErrChanged, never otherwise; once the writes stop, each
// content builds to its own bytes, from the cache or not: no entry holds
// the other content's bytes.
func TestChangedUnderChurn(t *testing.T) {
	d, cacheDir := t.TempDir(), t.TempDir()
	f := filepath.Join(d, "f")
	contents := []string{strings.Repeat("a", 64<<10), strings.Repeat("b", 64<<10)}
	writeFile(t, f, contents[0])
	build := func() (v1.Layer, error) {
		l, err := New(t.Context(), []Source{Dir(d)}, WithCache(cacheDir))
		require.NoError(t, err)
		_, err = l.Digest()
		return l, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// In place, as an editor that truncates and writes does.
			if err := os.WriteFile(f, []byte(contents[i%2]), 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var ok, changed int
	for range 100 {
		_, err := build()
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrChanged):
			changed++
		default:
			t.Errorf("build under churn: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("under churn: %d builds, %d failed with ErrChanged", ok, changed)
	for _, c := range contents {
		writeFile(t, f, c)
		for range 2 { // built or from the cache, then from the cache
			l, err := build()
			require.NoError(t, err)
			got := entries(t, l)
			require.Len(t, got, 1)
			assert.Equal(t, c[:1], got[0].Body[:1], "the layer of the file holding %q...", c[:1])
		}
	}
}
