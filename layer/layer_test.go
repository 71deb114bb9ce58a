package layer

import (
	"archive/tar"
	"bytes"
	"context"
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
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// goldenFiles is the fixed tree of the golden digest test and Example.
var goldenFiles = []File{
	{Path: "/app/server", Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
	{Path: "/app/config.json", Data: []byte(`{"port":8080}`)},
	{Path: "/app/static", Mode: fs.ModeDir | 0o755},
	{Path: "/app/current", Linkname: "server", Mode: fs.ModeSymlink},
}

// Golden digests of goldenFiles: recorded from a first run as a
// reproducibility pin. The diffID is cross-checked below against a tar
// built independently with archive/tar, and the gzip digest against the
// compressor run directly on that tar.
const (
	goldenDiffID = "sha256:4b231efe507d4eee79f3dbe137c3a0b82cfb131152b75b8171f809a61282f425"
	goldenDigest = "sha256:f7cbec87ec8f6ebd05d5e842d73b506e2be5e7886de5b400925039bc891078cc"
)

func TestGoldenDigest(t *testing.T) {
	l, err := FromFiles(goldenFiles)
	require.NoError(t, err)
	check(t, l)
	d, err := l.Digest()
	require.NoError(t, err, "Digest()")
	diff, err := l.DiffID()
	require.NoError(t, err, "DiffID()")

	// Independent expectation: the tar this package should write.
	var want bytes.Buffer
	tw := tar.NewWriter(&want)
	epoch := time.Unix(0, 0)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755, ModTime: epoch},
		{Typeflag: tar.TypeReg, Name: "app/config.json", Mode: 0o644, ModTime: epoch, Size: 13},
		{Typeflag: tar.TypeSymlink, Name: "app/current", Linkname: "server", Mode: 0o777, ModTime: epoch},
		{Typeflag: tar.TypeReg, Name: "app/server", Mode: 0o755, ModTime: epoch, Size: 21},
		{Typeflag: tar.TypeDir, Name: "app/static/", Mode: 0o755, ModTime: epoch},
	} {
		require.NoError(t, tw.WriteHeader(h))
		var err error
		switch h.Name {
		case "app/config.json":
			_, err = tw.Write(goldenFiles[1].Data)
		case "app/server":
			_, err = tw.Write(goldenFiles[0].Data)
		}
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	assert.Equal(t, "sha256:"+sha256Hex(want.Bytes()), diff.String(), "DiffID(), sha256 of the expected tar")
	var gz bytes.Buffer
	zw, err := compress.NewWriter(&gz, compress.WriterConfig{Format: compress.Gzip, Level: 1})
	require.NoError(t, err)
	_, err = zw.Write(want.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	assert.Equal(t, "sha256:"+sha256Hex(gz.Bytes()), d.String(), "Digest(), gzip of the expected tar")
	assert.Equal(t, goldenDigest, d.String(), "FromFiles(golden).Digest(), pinned")
	assert.Equal(t, goldenDiffID, diff.String(), "FromFiles(golden).DiffID(), pinned")
}

func TestLazy(t *testing.T) {
	// Constructors do no I/O: missing inputs are only reported on use.
	missing := filepath.Join(t.TempDir(), "missing")
	for name, mk := range map[string]func() (v1.Layer, error){
		"FromDir":     func() (v1.Layer, error) { return FromDir(missing) },
		"FromTarball": func() (v1.Layer, error) { return FromTarball(missing) },
		"FromURL":     func() (v1.Layer, error) { return FromURL(context.Background(), "http://127.0.0.1:1/x.tgz") },
		"ignore file": func() (v1.Layer, error) { return FromFiles(goldenFiles, WithIgnoreFile(missing)) },
	} {
		l, err := mk()
		if !assert.NoError(t, err, "%s(): want no error before first use", name) {
			continue
		}
		mt, err := l.MediaType()
		assert.NoError(t, err, "%s: MediaType() without I/O", name)
		assert.Equal(t, types.OCILayer, mt, "%s: MediaType() without I/O", name)
		_, err1 := l.Digest()
		_, err2 := l.Size()
		assert.Error(t, err1, "%s: Digest()", name)
		assert.Equal(t, err1, err2, "%s: Digest(), Size(): want the same kept error", name)
	}
}

// TestOnce: concurrent first calls build once.
func TestOnce(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "a", "b/c")
	tmp := t.TempDir()
	builds := 0
	testHookProduce = func() { builds++ }
	t.Cleanup(func() { testHookProduce = nil })
	l, err := New(context.Background(), []Source{Dir(d)}, WithTempDir(tmp))
	require.NoError(t, err)
	var wg sync.WaitGroup
	digests := make([]v1.Hash, 8)
	for i := range digests {
		wg.Go(func() {
			switch i % 4 {
			case 0:
				digests[i], _ = l.Digest()
			case 1:
				l.DiffID()
				digests[i], _ = l.Digest()
			case 2:
				rc, err := l.Compressed()
				if err == nil {
					digests[i], _, _ = v1.SHA256(rc)
					rc.Close()
				}
			case 3:
				l.Size()
				digests[i], _ = l.Digest()
			}
		})
	}
	wg.Wait()
	for i, d := range digests {
		assert.Equal(t, digests[0], d, "digest of call %d, of call 0", i)
	}
	assert.Equal(t, 1, builds, "writing passes: built once")
	ents, _ := os.ReadDir(tmp)
	assert.Empty(t, ents, "the spool file is unlinked at once")
}

func TestOptionScope(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		mk   func() (v1.Layer, error)
		has  string
	}{
		{"sha256 on a dir", func() (v1.Layer, error) { return FromDir(".", WithSHA256(strings.Repeat("0", 64))) }, "WithSHA256 does not apply to layer.Dir"},
		{"http client on a tarball", func() (v1.Layer, error) { return FromTarball("x", WithHTTPClient(nil)) }, "nil client"},
		{"bad sha", func() (v1.Layer, error) { return FromURL(ctx, "http://x/y", WithSHA256("abc")) }, "not a sha256"},
		{"bad level", func() (v1.Layer, error) { return FromDir(".", WithLevel(12)) }, "gzip level 12"},
		{"level uncompressed", func() (v1.Layer, error) {
			return FromDir(".", WithLevel(3), WithCompression(Uncompressed))
		}, "uncompressed"},
		{"zstd docker", func() (v1.Layer, error) {
			return FromDir(".", WithCompression(Zstd), WithMediaType(types.DockerLayer))
		}, "does not match"},
		{"bad scheme", func() (v1.Layer, error) { return FromURL(ctx, "file:///etc/passwd") }, "scheme"},
		{"owner and preserve", func() (v1.Layer, error) {
			return FromTarball("x", WithOwner(1, 1), WithPreserveOwner())
		}, "exclude each other"},
		{"negative strip", func() (v1.Layer, error) { return FromDir(".", WithStripComponents(-1)) }, "negative"},
		{"nil source", func() (v1.Layer, error) { return New(ctx, []Source{nil}) }, "is nil"},
		{"no sources", func() (v1.Layer, error) { return New(ctx, nil) }, "no sources"},
		{"files bad path", func() (v1.Layer, error) { return FromFiles([]File{{Path: "/"}}) }, "invalid path"},
		{"delete nothing", func() (v1.Layer, error) { return Delete() }, "no paths"},
	} {
		_, err := tc.mk()
		assert.ErrorIs(t, err, ErrOption, tc.name)
		assert.ErrorContains(t, err, tc.has, tc.name)
	}
}

// TestCompressions: every compression and media type round-trips, and
// output does not depend on the concurrency.
func TestCompressions(t *testing.T) {
	d := t.TempDir()
	big := bytes.Repeat([]byte("stevedore layer bytes 0123456789\n"), 200000) // 6.6 MB: several gzip blocks
	tree(t, d, "a", "b/c")
	require.NoError(t, os.WriteFile(filepath.Join(d, "big"), big, 0o644))
	for _, tc := range []struct {
		opts []Option
		mt   types.MediaType
	}{
		{nil, types.OCILayer},
		{[]Option{WithCompression(Zstd)}, types.OCILayerZStd},
		{[]Option{WithCompression(Uncompressed)}, types.OCIUncompressedLayer},
		{[]Option{WithMediaType(types.DockerLayer)}, types.DockerLayer},
		{[]Option{WithMediaType(types.DockerUncompressedLayer)}, types.DockerUncompressedLayer},
		{[]Option{WithMediaType(types.OCILayerZStd)}, types.OCILayerZStd},
		{[]Option{WithLevel(9)}, types.OCILayer},
		{[]Option{WithCompression(Zstd), WithLevel(19)}, types.OCILayerZStd},
	} {
		var ref v1.Hash
		var refDiff v1.Hash
		for _, conc := range []int{1, 4} {
			l, err := FromDir(d, append(tc.opts, WithConcurrency(conc))...)
			require.NoError(t, err)
			mt, err := l.MediaType()
			require.NoError(t, err)
			assert.Equal(t, tc.mt, mt, "MediaType()")
			check(t, l)
			dg, err := l.Digest()
			require.NoError(t, err)
			diff, err := l.DiffID()
			require.NoError(t, err)
			if conc == 1 {
				ref, refDiff = dg, diff
			}
			assert.Equal(t, ref, dg, "%s: digest with concurrency %d, with 1", tc.mt, conc)
			assert.Equal(t, refDiff, diff, "%s: diffID with concurrency %d, with 1", tc.mt, conc)
		}
	}
}

// TestCancel: a cancelled build returns the context error promptly and
// leaves no spool file, and no cache entry or cache temp file.
func TestCancel(t *testing.T) {
	for _, cached := range []bool{false, true} {
		tmp, cacheDir := t.TempDir(), t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		// An endless tar stream through a FIFO: cancellation is the only
		// way out.
		fifo := filepath.Join(t.TempDir(), "stream.tar")
		if err := mkfifo(fifo); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		stop := make(chan struct{})
		feeding := make(chan struct{})
		go func() {
			defer close(feeding)
			f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer f.Close()
			tw := tar.NewWriter(f)
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "endless", Size: 1 << 40, Mode: 0o644})
			buf := make([]byte, 1<<16)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := tw.Write(buf); err != nil {
					return
				}
			}
		}()
		opts := []LayerOption{WithTempDir(tmp)}
		if cached {
			opts = append(opts, WithCache(cacheDir))
		}
		l, err := New(ctx, []Source{Tarball(fifo)}, opts...)
		require.NoError(t, err)
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err = l.Digest()
		close(stop)
		// Unblock a writer stuck on a full FIFO.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscallNonblock, 0); err == nil {
			io.Copy(io.Discard, f)
			f.Close()
		}
		<-feeding
		require.ErrorIs(t, err, context.Canceled, "cache %v: Digest()", cached)
		assert.LessOrEqual(t, time.Since(start), 5*time.Second, "cache %v: time Digest() took to return after cancellation", cached)
		ents, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, ents, "cache %v: temp dir after cancellation", cached)
		for _, sub := range []string{"entries", "tmp", "blobs/sha256"} {
			ents, _ := os.ReadDir(filepath.Join(cacheDir, sub)) // not there when uncached
			assert.Empty(t, ents, "cache dir %s after cancellation", sub)
		}
	}
}

func TestCreatedBy(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		srcs []Source
		want string
	}{
		{[]Source{Dir("./dist", WithRoot("/app"))}, "stevedore: dir -> /app"},
		{[]Source{Tarball("/tmp/go1.25.linux-amd64.tar.gz", WithRoot("/usr/local"))}, "stevedore: tarball -> /usr/local"},
		{[]Source{Tarball("/tmp/x.tgz", WithSHA256(strings.Repeat("ab", 32)))}, "stevedore: tarball sha256:" + strings.Repeat("ab", 32) + " -> /"},
		{[]Source{Files(goldenFiles)}, "stevedore: files 4 -> /"},
		{[]Source{Dir("/home/someone/src/app", WithRoot("/app"))}, "stevedore: dir -> /app"},
		{[]Source{URL("https://user:pw@example.com/ko.tgz", WithOnly("ko"))}, "stevedore: url https://example.com/ko.tgz -> /"},
		{[]Source{URL("https://example.com/ko.tgz?X-Amz-Signature=secret#frag")}, "stevedore: url https://example.com/ko.tgz -> /"},
		{[]Source{Deletions("/etc/a", "b"), Opaque("/var/cache")}, "stevedore: delete /etc/a /b; opaque /var/cache"},
	} {
		l, err := New(ctx, tc.srcs)
		require.NoError(t, err)
		assert.Equal(t, tc.want, l.(interface{ CreatedBy() string }).CreatedBy(), "CreatedBy()")
	}
}

// TestMerge: several sources in one layer share parents (each directory
// once, so validate.Layer's duplicate check passes) and keep their order.
func TestMerge(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "bin/app", "etc/app.conf")
	tb := tartest.TempFile(t, "go.tgz", tartest.Gzip(t, tartest.Bytes(t, tartest.Dir("go/"), tartest.Dir("go/bin/"), tartest.File("go/bin/go", "go"))))
	l, err := New(t.Context(), []Source{
		Tarball(tb, WithRoot("/usr/local")),
		Dir(d, WithRoot("/usr/local")),
		Files([]File{{Path: "/usr/local/etc/extra", Data: []byte("x")}}),
		Deletions("/usr/local/share/doc"),
	})
	require.NoError(t, err)
	want := "usr/ 5 755\nusr/local/ 5 755\nusr/local/go/ 5 755\nusr/local/go/bin/ 5 755\nusr/local/go/bin/go 0 644 \"go\"\n" +
		"usr/local/bin/ 5 755\nusr/local/bin/app 0 644 \"app\"\nusr/local/etc/ 5 755\nusr/local/etc/app.conf 0 644 \"app.conf\"\n" +
		"usr/local/etc/extra 0 644 \"x\"\nusr/local/share/.wh.doc 0 644\n"
	assert.Equal(t, want, summary(entries(t, l)), "entries")
	check(t, l)
	assert.Equal(t, "stevedore: tarball -> /usr/local; dir -> /usr/local; files 1 -> /; delete /usr/local/share/doc",
		l.(interface{ CreatedBy() string }).CreatedBy(), "CreatedBy()")
}

// TestGoldenAcrossSources: the same tree from a directory, os.DirFS, a
// MapFS and in-memory files gives the same golden digest.
func TestGoldenAcrossSources(t *testing.T) {
	d := t.TempDir()
	app := filepath.Join(d, "app")
	os.MkdirAll(filepath.Join(app, "static"), 0o755)
	os.WriteFile(filepath.Join(app, "server"), goldenFiles[0].Data, 0o755)
	os.WriteFile(filepath.Join(app, "config.json"), goldenFiles[1].Data, 0o644)
	os.Symlink("server", filepath.Join(app, "current"))
	chmod(t, app, 0o755)
	chmod(t, filepath.Join(app, "server"), 0o755)
	chmod(t, filepath.Join(app, "static"), 0o755)
	mapfs := fstest.MapFS{
		"app":             {Mode: fs.ModeDir | 0o755},
		"app/server":      {Data: goldenFiles[0].Data, Mode: 0o755},
		"app/config.json": {Data: goldenFiles[1].Data, Mode: 0o644},
		"app/static":      {Mode: fs.ModeDir | 0o755},
		"app/current":     {Data: []byte("server"), Mode: fs.ModeSymlink | 0o777},
	}
	for name, mk := range map[string]func() (v1.Layer, error){
		"FromDir":         func() (v1.Layer, error) { return FromDir(d) },
		"FromFS(DirFS)":   func() (v1.Layer, error) { return FromFS(os.DirFS(d)) },
		"FromFS(MapFS)":   func() (v1.Layer, error) { return FromFS(mapfs) },
		"FromFiles":       func() (v1.Layer, error) { return FromFiles(goldenFiles) },
		"FromFiles(root)": func() (v1.Layer, error) { return FromFiles(goldenFiles, WithRoot("/")) },
	} {
		l, err := mk()
		require.NoError(t, err)
		dg, err := l.Digest()
		if assert.NoError(t, err, "%s: Digest()", name) {
			assert.Equal(t, goldenDigest, dg.String(), "%s: Digest()", name)
		}
	}
}
