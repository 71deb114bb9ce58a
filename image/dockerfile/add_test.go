package dockerfile

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/gitfs/gittest"
	"github.com/stevedore-dev/stevedore/layer"
)

// tarOf is a tar with a directory, a file owned 33:33, an executable and a
// symlink.
func tarOf(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "pkg/", Mode: 0o750},
		{Typeflag: tar.TypeReg, Name: "pkg/data.txt", Mode: 0o640, Uid: 33, Gid: 33, Size: 4},
		{Typeflag: tar.TypeReg, Name: "pkg/run", Mode: 0o755, Size: 2},
		{Typeflag: tar.TypeSymlink, Name: "pkg/link", Linkname: "data.txt", Mode: 0o777},
	} {
		require.NoError(t, tw.WriteHeader(h))
		switch h.Name {
		case "pkg/data.txt":
			tw.Write([]byte("data"))
		case "pkg/run":
			tw.Write([]byte("#!"))
		}
	}
	require.NoError(t, tw.Close())
	return b.Bytes()
}

func compressed(t testing.TB, format string, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	switch format {
	case "gz":
		w := gzip.NewWriter(&out)
		w.Write(b)
		require.NoError(t, w.Close())
	case "zst":
		w, err := zstd.NewWriter(&out)
		require.NoError(t, err)
		w.Write(b)
		require.NoError(t, w.Close())
	case "xz":
		w, err := xz.NewWriter(&out)
		require.NoError(t, err)
		w.Write(b)
		require.NoError(t, w.Close())
	default:
		return b
	}
	return out.Bytes()
}

const tarListing = "x/pkg: 5 750 0:0\nx/pkg/data.txt: 0 640 33:33 \"data\"\nx/pkg/link: 2 777 0:0 -> data.txt\nx/pkg/run: 0 755 0:0 \"#!\"\n"

func TestAddArchives(t *testing.T) {
	dir := t.TempDir()
	raw := tarOf(t)
	for _, f := range []string{"", "gz", "zst", "xz"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "a.tar."+f), compressed(t, f, raw), 0o644))
	}
	// bzip2 has no writer in Go: the fixture was made by bzip2(1).
	bz, err := os.ReadFile("../../internal/compress/testdata/hello.tar.bz2")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "h.tar.bz2"), bz, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notar.gz"), compressed(t, "gz", []byte("just text")), 0o644))

	for _, tc := range []struct {
		name, dockerfile string
		paths            []string
		want             string
	}{
		{"plain tar", "ADD a.tar. /x/", []string{"x"}, "x: 5 755 0:0\n" + tarListing},
		{"gzip", "ADD a.tar.gz /x", []string{"x"}, "x: 5 755 0:0\n" + tarListing},
		{"zstd", "ADD a.tar.zst /x", []string{"x"}, "x: 5 755 0:0\n" + tarListing},
		{"xz", "ADD a.tar.xz /x", []string{"x"}, "x: 5 755 0:0\n" + tarListing},
		{"bzip2", "ADD h.tar.bz2 /b", []string{"b"}, "b: 5 755 0:0\nb/d: 5 755 0:0\nb/d/hello.txt: 0 644 0:0 \"hello from bzip2\\n\"\n"},
		{"--chown applies to an archive", "ADD --chown=7:8 a.tar.gz /c", []string{"c/pkg/data.txt", "c/pkg/run"},
			"c/pkg/data.txt: 0 640 7:8 \"data\"\nc/pkg/run: 0 755 7:8 \"#!\"\n"},
		{"a gzip that is not a tar is copied", "ADD notar.gz /n/", []string{"n"}, "n: 5 755 0:0\nn/notar.gz: 0 644 0:0 " + strconv.Quote(string(compressed(t, "gz", []byte("just text")))) + "\n"},
		{"COPY does not extract", "COPY a.tar.gz /k/", []string{"k"}, "k: 5 755 0:0\nk/a.tar.gz: 0 644 0:0 " + strconv.Quote(string(compressed(t, "gz", raw))) + "\n"},
		{"ADD --unpack=false", "ADD --unpack=false a.tar.xz /u/", []string{"u"}, "u: 5 755 0:0\nu/a.tar.xz: 0 644 0:0 " + strconv.Quote(string(compressed(t, "xz", raw))) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustBuild(t, dir, "FROM scratch\n"+tc.dockerfile+"\n")
			assert.Equal(t, tc.want, listing(files(t, img), tc.paths...), "%s", tc.dockerfile)
		})
	}
}

func TestAddURL(t *testing.T) {
	body := []byte("#!/bin/sh\necho tool\n")
	sum := sha256.Sum256(body)
	var hits atomic.Int32
	tgz := compressed(t, "gz", tarOf(t))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/dl/tool":
			w.Write(body)
		case "/pkg.tgz":
			w.Write(tgz)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, dockerfile string
		paths            []string
		want             string
		err              string
	}{
		{"named after the URL, mode 0600", "ADD " + srv.URL + "/dl/tool /usr/local/bin/", []string{"usr"},
			"usr: 5 755 0:0\nusr/local: 5 755 0:0\nusr/local/bin: 5 755 0:0\nusr/local/bin/tool: 0 600 0:0 \"#!/bin/sh\\necho tool\\n\"\n", ""},
		{"renamed, --chmod, --chown, --checksum", "ADD --chmod=755 --chown=1:2 --checksum=sha256:" + hex.EncodeToString(sum[:]) + " " + srv.URL + "/dl/tool /t",
			[]string{"t"}, "t: 0 755 1:2 \"#!/bin/sh\\necho tool\\n\"\n", ""},
		{"an archive URL is not extracted", "ADD " + srv.URL + "/pkg.tgz /dl/", []string{"dl"},
			"dl: 5 755 0:0\ndl/pkg.tgz: 0 600 0:0 " + strconv.Quote(string(tgz)) + "\n", ""},
		{"--unpack extracts it", "ADD --unpack=true " + srv.URL + "/pkg.tgz /x/", []string{"x"}, "x: 5 755 0:0\n" + tarListing, ""},
		{"checksum mismatch", "ADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + srv.URL + "/dl/tool /t", nil, "", "sha256 mismatch"},
		{"404", "ADD " + srv.URL + "/missing /m", nil, "", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := buildIn(t, dir, "FROM scratch\n"+tc.dockerfile+"\n")
			if tc.err != "" {
				require.Error(t, err, "Build")
				assert.Contains(t, err.Error(), tc.err, "Build error")
				assert.Contains(t, err.Error(), "Dockerfile:2: ADD", "error names the instruction")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, listing(files(t, img), tc.paths...), "%s", tc.dockerfile)
		})
	}
	// With a cache and a checksum, a second build downloads nothing.
	cache := t.TempDir()
	df := "FROM scratch\nADD --checksum=sha256:" + hex.EncodeToString(sum[:]) + " " + srv.URL + "/dl/tool /t\n"
	mustBuild(t, dir, df, WithCache(cache))
	before := hits.Load()
	mustBuild(t, dir, df, WithCache(cache))
	assert.Equal(t, before, hits.Load(), "downloads of a cached ADD --checksum")
}

func TestAddGit(t *testing.T) {
	repo, commit := gittest.Repo(t, map[string]string{"README.md": "# r\n", "cmd/tool/main.go": "package main\n", "bin/run": "#!/bin/sh\n"},
		map[string]string{"cmd/link": "tool/main.go"})
	u := gittest.Serve(t, repo, "repo")
	dir := t.TempDir()
	img := mustBuild(t, dir, "FROM scratch\nADD "+u+"#v1 /src/\nADD "+u+"#v1:cmd /cmd\nADD --checksum="+commit+" "+u+" /pinned\n")
	assert.Equal(t, "src: 5 755 0:0\nsrc/README.md: 0 644 0:0 \"# r\\n\"\nsrc/bin: 5 755 0:0\nsrc/bin/run: 0 755 0:0 \"#!/bin/sh\\n\"\n"+
		"src/cmd: 5 755 0:0\nsrc/cmd/link: 2 777 0:0 -> tool/main.go\nsrc/cmd/tool: 5 755 0:0\nsrc/cmd/tool/main.go: 0 644 0:0 \"package main\\n\"\n",
		listing(files(t, img), "src"), "ADD of a git URL at a tag")
	assert.Equal(t, "cmd: 5 755 0:0\ncmd/link: 2 777 0:0 -> tool/main.go\ncmd/tool: 5 755 0:0\ncmd/tool/main.go: 0 644 0:0 \"package main\\n\"\n",
		listing(files(t, img), "cmd"), "ADD of a git URL's subdir")
	assert.Contains(t, listing(files(t, img), "pinned"), "pinned/README.md", "ADD --checksum of the commit")

	_, err := buildIn(t, dir, "FROM scratch\nADD --checksum="+strings.Repeat("a", 40)+" "+u+" /x\n")
	assert.ErrorContains(t, err, "checksum mismatch", "ADD of a git URL with a wrong commit")
	_, err = buildIn(t, dir, "FROM scratch\nADD --keep-git-dir=true "+u+" /x\n")
	assert.ErrorContains(t, err, "--keep-git-dir", "ADD --keep-git-dir")
}

// TestCopyFrom: COPY --from a stage (by name or number) or an image keeps
// owners and modes, follows the source's symlinks, takes --chown,
// --chmod, --exclude and wildcards.
func TestCopyFrom(t *testing.T) {
	dir := newContext(t, map[string]string{"app/bin/server": "#!bin", "app/etc/conf": "c", "app/etc/notes.md": "n"})
	tools := baseImage(t, "linux/arm64", v1.Config{},
		baseFile{Path: "/usr/bin/tool", Data: []byte("arm tool"), Mode: 0o755},
		baseFile{Path: "/usr/bin/t", Mode: fs.ModeSymlink | 0o777, Linkname: "tool"})
	resolver := resolverOf(map[string]v1.Image{"base": debianish(t, "linux/arm64"), "tools|linux/arm64": tools})
	img := mustBuild(t, dir, `FROM scratch AS build
COPY --chown=1000:1000 app /opt/app
COPY --chmod=0700 app/bin/server /opt/secret
FROM base
COPY --from=build /opt/app /app
COPY --from=0 /opt/app/bin/server /usr/local/bin
COPY --from=build --chown=node:staff --exclude=*.md /opt/app/etc /etc/app
COPY --from=build /opt/secret /opt/app/e* /multi/
COPY --from=tools /usr/bin/t /bin/tool
`, WithResolver(resolver), WithPlatforms("linux/arm64"))
	fs := files(t, img)
	assert.Equal(t, "app: 5 755 0:0\napp/bin: 5 755 1000:1000\napp/bin/server: 0 755 1000:1000 \"#!bin\"\napp/etc: 5 755 1000:1000\napp/etc/conf: 0 644 1000:1000 \"c\"\napp/etc/notes.md: 0 644 1000:1000 \"n\"\n",
		listing(fs, "app"), "COPY --from keeps owners; the destination made is root's")
	assert.Equal(t, "usr/local/bin/server: 0 755 1000:1000 \"#!bin\"\n", listing(fs, "usr/local/bin/server"), "COPY --from=0 into an existing directory")
	assert.Equal(t, "etc/app: 5 755 1000:50\netc/app/conf: 0 644 1000:50 \"c\"\n", listing(fs, "etc/app"), "--chown by name, --exclude")
	assert.Equal(t, "multi: 5 755 0:0\nmulti/conf: 0 644 1000:1000 \"c\"\nmulti/notes.md: 0 644 1000:1000 \"n\"\nmulti/secret: 0 700 0:0 \"#!bin\"\n",
		listing(fs, "multi"), "several sources, a wildcard matching a directory")
	assert.Equal(t, "bin/tool: 0 755 0:0 \"arm tool\"\n", listing(fs, "bin/tool"), "COPY --from an image resolved for the platform; its symlink followed")
	cf := configOf(t, img)
	assert.Equal(t, "COPY /opt/app /app # buildkit", cf.History[len(cf.History)-5].CreatedBy, "--from is not in the history text, as BuildKit")
}

func TestCopyFromRunsNothing(t *testing.T) {
	// A stage only reached through COPY --from is built; one that is not
	// needed is not (its missing source would fail).
	dir := newContext(t, map[string]string{"a": "a"})
	img := mustBuild(t, dir, "FROM scratch AS unused\nCOPY nope /\nFROM scratch AS src\nCOPY a /a\nFROM scratch\nCOPY --from=src /a /b\n")
	assert.Equal(t, "b: 0 644 0:0 \"a\"\n", listing(files(t, img)), "only the needed stages")
	_, err := buildIn(t, dir, "FROM scratch\nCOPY --from=later /a /b\nFROM scratch AS later\n", WithTarget("later"))
	assert.NoError(t, err, "target before the stage with the bad COPY --from")
}

func TestMultiStageContext(t *testing.T) {
	// context.Context cancellation stops a build.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Build(ctx, WithContextDir(t.TempDir()), WithDockerfileContent([]byte("FROM scratch\nLABEL a=b\n")))
	assert.ErrorIs(t, err, context.Canceled, "Build with a cancelled context")
}

// TestCopyFromHardlinks: COPY --from writes the hardlinks of the source
// image as regular files with their target's content, mode and owner,
// and leaves out what an upper layer of the source deletes.
func TestCopyFromHardlinks(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: "opt/a", Mode: 0o750, Uid: 7, Size: 4},
		{Typeflag: tar.TypeLink, Name: "opt/b", Linkname: "opt/a", Mode: 0o750, Uid: 7},
		{Typeflag: tar.TypeReg, Name: "opt/gone", Mode: 0o644},
	} {
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte("data"))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	lower, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
	require.NoError(t, err)
	upper, err := layer.New(t.Context(), []layer.Source{layer.Deletions("/opt/gone")})
	require.NoError(t, err)
	src, err := image.Build(t.Context(), nil, image.WithLayers(lower, upper), image.WithPlatform("linux/amd64"))
	require.NoError(t, err)
	img := mustBuild(t, t.TempDir(), "FROM scratch\nCOPY --from=src /opt /copy/\n", WithResolver(resolverOf(map[string]v1.Image{"src": src})))
	assert.Equal(t, "copy: 5 755 0:0\ncopy/a: 0 750 7:0 \"data\"\ncopy/b: 0 750 7:0 \"data\"\n", listing(files(t, img), "copy"),
		"COPY --from of a directory with a hardlink and a deleted file")
}

// TestCopyFromEmptyDir: COPY --from of an empty directory creates the
// destination directory (0755, root's, parents too), as BuildKit's copy
// does (fsutil's copy makes the target with MkdirAll before copying the
// contents), from a stage as from an image.
func TestCopyFromEmptyDir(t *testing.T) {
	src := baseImage(t, "linux/amd64", v1.Config{}, baseFile{Path: "/empty", Mode: fs.ModeDir | 0o700})
	resolver := WithResolver(resolverOf(map[string]v1.Image{"src": src}))
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"from an image", "FROM scratch\nCOPY --from=src /empty /dst\n", "dst: 5 755 0:0\n"},
		{"from a stage", "FROM src AS s\nFROM scratch\nCOPY --from=s /empty /dst\n", "dst: 5 755 0:0\n"},
		{"parents, trailing slash", "FROM scratch\nCOPY --from=src /empty /dst/sub/\n", "dst: 5 755 0:0\ndst/sub: 5 755 0:0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustBuild(t, t.TempDir(), tc.dockerfile, resolver)
			assert.Equal(t, tc.want, listing(files(t, img), "dst"), "Build(%q) files under /dst", tc.dockerfile)
		})
	}
}
