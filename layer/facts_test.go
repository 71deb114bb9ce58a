package layer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/gobin/gobintest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// sha256Of is the sha256 of b, computed here rather than by the package.
func sha256Of(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// appTree writes a directory holding a Go program built by the test
// (bin/hello) and a text file, and returns the program's bytes.
func appTree(t *testing.T, dir string) []byte {
	t.Helper()
	exe, err := os.ReadFile(gobintest.Build(t, nil, "-trimpath"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin", "hello"), exe, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("hello\n"), 0o644))
	return exe
}

func facts(t *testing.T, l v1.Layer) Facts {
	t.Helper()
	r, ok := l.(Recorder)
	require.True(t, ok, "%T implements Recorder", l)
	f, err := r.Facts(context.Background())
	require.NoError(t, err)
	return f
}

// checkHello checks that f lists the program appTree wrote, at path.
func checkHello(t *testing.T, f Facts, path string, exe []byte) {
	t.Helper()
	require.Len(t, f.Binaries, 1, "Go executables")
	b := f.Binaries[0]
	assert.Equal(t, path, b.Path)
	assert.Equal(t, sha256Of(exe), b.Digest, "digest of the executable")
	require.NotNil(t, b.Info)
	assert.Equal(t, gobintest.MainPath, b.Info.Main.Path, "main module")
	var deps []string
	for _, d := range b.Info.Deps {
		deps = append(deps, d.Path+"@"+d.Version)
	}
	assert.Equal(t, []string{gobintest.DepPath + "@" + gobintest.DepVers}, deps, "dependencies")
}

func TestFactsOfDir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	a := t.TempDir()
	exe := appTree(t, a)
	l, err := FromDir(a, WithRoot("/app"))
	require.NoError(t, err)
	f := facts(t, l)
	require.Len(t, f.Inputs, 1)
	in := f.Inputs[0]
	assert.Equal(t, Input{Kind: "dir", Digest: in.Digest, Destination: "/app"}, in, "no host path in the input")
	assert.NotEqual(t, v1.Hash{}, in.Digest, "content digest")
	checkHello(t, f, "/app/bin/hello", exe)

	// The content digest follows the content, not the directory's place.
	b := t.TempDir()
	copyTree(t, a, b, time.Now().Add(time.Hour))
	lb, err := FromDir(b, WithRoot("/app"))
	require.NoError(t, err)
	assert.Equal(t, in.Digest, facts(t, lb).Inputs[0].Digest, "digest of a copy")
	require.NoError(t, os.WriteFile(filepath.Join(b, "README"), []byte("changed\n"), 0o644))
	lc, err := FromDir(b, WithRoot("/app"))
	require.NoError(t, err)
	assert.NotEqual(t, in.Digest, facts(t, lc).Inputs[0].Digest, "digest after a change")
}

// TestFactsFromCache: a layer served by the local cache states the facts
// of the build that stored it, without reading its blob.
func TestFactsFromCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	d, cacheDir := t.TempDir(), t.TempDir()
	exe := appTree(t, d)
	first, err := FromDir(d, WithRoot("/app"), WithCache(cacheDir))
	require.NoError(t, err)
	want := facts(t, first)

	second, err := FromDir(d, WithRoot("/app"), WithCache(cacheDir))
	require.NoError(t, err)
	require.NoError(t, second.(Computable).Compute(context.Background()))
	require.True(t, second.(Cached).CacheHit(), "second build is a cache hit")
	got := facts(t, second)
	assert.Equal(t, want.Inputs, got.Inputs)
	checkHello(t, got, "/app/bin/hello", exe)
	assert.Equal(t, want.Binaries[0].Info.String(), got.Binaries[0].Info.String(), "build information")
	c, err := cache.Open(cacheDir)
	require.NoError(t, err)
	diffID, err := second.DiffID()
	require.NoError(t, err)
	_, kept := loadBinaries(c, diffID)
	assert.True(t, kept, "the cache keeps the list of Go executables beside the layer")
}

// TestFactsFromRemoteCache: a layer found in the remote cache states the
// Go executables the store recorded (no download), or, from a store that
// keeps no record, those found by reading the blob.
func TestFactsFromRemoteCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "record kept", false: "no record"}[keep], func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			exe := appTree(t, a)
			copyTree(t, a, b, time.Now().Add(time.Hour))
			rc := newMemRemote()
			rc.keepBinaries = keep
			la, _ := machine(t, a, "", rc)
			want := facts(t, la)
			lb, kinds := machine(t, b, "", rc)
			require.Equal(t, []CacheEventKind{RemoteHit}, kinds)
			got := facts(t, lb)
			assert.Equal(t, want.Inputs, got.Inputs)
			checkHello(t, got, "/app/bin/hello", exe)
			if keep {
				assert.Equal(t, 0, rc.reads, "blobs read from the remote cache for the facts")
			} else {
				assert.Equal(t, 1, rc.reads, "blobs read from the remote cache for the facts")
			}
		})
	}
}

func TestFactsOfInputs(t *testing.T) {
	tarball := tartest.Bytes(t, tartest.File("a", "a"))
	tarPath := tartest.TempFile(t, "in.tar", tarball)
	gz := tartest.Gzip(t, tartest.Bytes(t, tartest.File("b", "b")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(gz) }))
	t.Cleanup(srv.Close)
	hostFile := tartest.TempFile(t, "tool", []byte("#!/bin/sh\n"))
	files := []File{{Path: "etc/x", Data: []byte("x")}}
	filesLayer := func() Facts {
		l, err := New(context.Background(), []Source{Files(files, WithRoot("/srv"))})
		require.NoError(t, err)
		return facts(t, l)
	}

	l, err := New(context.Background(), []Source{
		Tarball(tarPath, WithRoot("/opt")),
		URL(srv.URL+"/pkg.tar.gz?token=secret", WithRoot("/usr")),
		URL("http://user:pw@"+srv.Listener.Addr().String()+"/pkg.tar.gz", WithSHA256(sha256Of(gz).Hex), WithRoot("/usr2")),
		HostFile(hostFile, "bin/tool", WithRoot("/usr/local")),
		URLFile(srv.URL+"/pkg.tar.gz", "dl/pkg.tar.gz", WithSHA256(sha256Of(gz).Hex)),
		Files(files, WithRoot("/srv")),
		Dirs([]string{"/work"}),
		Deletions("/tmp/x"),
	})
	require.NoError(t, err)
	f := facts(t, l)
	want := []Input{
		{Kind: "tarball", Digest: sha256Of(tarball), Destination: "/opt"},
		{Kind: "url", URI: srv.URL + "/pkg.tar.gz", Digest: sha256Of(gz), Destination: "/usr"},
		{Kind: "url", URI: "http://" + srv.Listener.Addr().String() + "/pkg.tar.gz", Digest: sha256Of(gz), Destination: "/usr2"},
		{Kind: "file", Digest: sha256Of([]byte("#!/bin/sh\n")), Destination: "/usr/local/bin/tool"},
		{Kind: "url file", URI: srv.URL + "/pkg.tar.gz", Digest: sha256Of(gz), Destination: "/dl/pkg.tar.gz"},
		{Kind: "files", Digest: filesLayer().Inputs[0].Digest, Destination: "/srv"},
		{Kind: "mkdir", Destination: "/work"},
	}
	assert.Equal(t, want, f.Inputs, "inputs, deletions excepted")
	assert.Empty(t, f.Binaries, "Go executables")
	assert.NotEqual(t, v1.Hash{}, want[5].Digest, "content digest of files")
	files[0].Data = []byte("y")
	assert.NotEqual(t, want[5].Digest, filesLayer().Inputs[0].Digest, "content digest of changed files")
}

// TestFactsOfForeignLayer: a layer not made here has no facts to state.
func TestFactsOfForeignLayer(t *testing.T) {
	l, err := partial.UncompressedToLayer(nil)
	_, ok := any(l).(Recorder)
	assert.False(t, ok && err == nil, "a go-containerregistry layer is no Recorder")
}

// countingFS counts the opens of regular files (layer.FS opens them from
// several goroutines).
type countingFS struct {
	fstest.MapFS
	opens atomic.Int64
}

func (c *countingFS) Open(name string) (fs.File, error) {
	f, err := c.MapFS.Open(name)
	if err == nil {
		if fi, serr := f.Stat(); serr == nil && fi.Mode().IsRegular() {
			c.opens.Add(1)
		}
	}
	return f, err
}

// TestFactsReuseTheKeysHash: with a cache, the content hash the cache key
// read an fs.FS for is the input's digest in Facts: a layer found in the
// cache reads each file once in all (for the key), not again for Facts.
func TestFactsReuseTheKeysHash(t *testing.T) {
	fsys := &countingFS{MapFS: fstest.MapFS{
		"a.txt":     {Data: []byte("a"), Mode: 0o644},
		"sub/b.txt": {Data: []byte("b"), Mode: 0o644},
	}}
	cacheDir := t.TempDir()
	first, err := FromFS(fsys, WithCache(cacheDir))
	require.NoError(t, err)
	want := facts(t, first)

	fsys.opens.Store(0)
	second, err := FromFS(fsys, WithCache(cacheDir))
	require.NoError(t, err)
	got := facts(t, second)
	require.True(t, second.(Cached).CacheHit(), "second build is a cache hit")
	assert.Equal(t, want.Inputs, got.Inputs, "inputs of the hit")
	assert.Equal(t, int64(2), fsys.opens.Load(), "file opens for the hit's key and Facts: each file once")
}
