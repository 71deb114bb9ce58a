package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

// consumerEnv is what the subtests of TestConsumers share: a real
// registry with htpasswd auth, and the credentials for our client and
// skopeo.
type consumerEnv struct {
	d    *itest.Distribution
	auth registry.Option
}

// skopeo runs skopeo with a permissive signature policy (the test
// registry's images are not signed).
func skopeo(t testing.TB, args ...string) string {
	t.Helper()
	return itest.Run(t, "skopeo", append([]string{"--insecure-policy"}, args...)...)
}

// fromRegistry are the flags of skopeo inspect for the test registry.
func (e *consumerEnv) inspectFlags() []string {
	return []string{"--tls-verify=false", "--creds", e.d.User + ":" + e.d.Password}
}

func (e *consumerEnv) srcFlags() []string {
	return []string{"--src-tls-verify=false", "--src-creds", e.d.User + ":" + e.d.Password}
}

// expectation is what a consumer must see of an image.
type expectation struct {
	rootfs   []string          // exact rootfsListing after umoci unpack
	contents map[string]string // some files' contents
	runs     []run             // runc runs of the unpacked bundle
	zstd     bool              // umoci cannot read it: convert with skopeo first
	env      string            // an Env entry skopeo inspect must show
	tocs     int               // layers with a table of contents, kept through a registry
}

type run struct {
	args []string // empty: the image's entrypoint and cmd
	want string
}

// TestConsumers builds images with the library and has tools no one here
// wrote read, unpack and run them.
func TestConsumers(t *testing.T) {
	itest.Require(t, "skopeo", "umoci", "runc", "docker-registry", "go")
	e := &consumerEnv{d: itest.StartDistribution(t, "e2e", "e2e-Pw-7f3k", nil, nil)}
	e.auth = registry.WithBasicAuth(e.d.User, e.d.Password)
	bin := toybox(t)
	native := "linux/" + runtime.GOARCH
	base := e.pushedBase(t)

	t.Run("scratch static binary", func(t *testing.T) { e.scratch(t, bin, native) })
	t.Run("busybox base, layers and whiteouts", func(t *testing.T) { e.busybox(t, base) })
	t.Run("zstd", func(t *testing.T) { e.zstd(t, bin, native) })
	for _, c := range []layer.Compression{layer.EStargz, layer.ZstdChunked} {
		t.Run(c.String(), func(t *testing.T) { e.lazy(t, base, bin, c) })
	}
	t.Run("multi-platform index", func(t *testing.T) { e.index(t, bin, native) })
	t.Run("plain ggcr fails umoci, ours passes", func(t *testing.T) { e.plainAndOurs(t, base) })
}

// pushedBase is the busybox-style base, made the plain ggcr way, pushed,
// pulled back.
func (e *consumerEnv) pushedBase(t *testing.T) v1.Image {
	t.Helper()
	baseRef := e.d.Ref("e2e/base:v1")
	_, err := registry.Push(t.Context(), baseRef, plainOCIBase(t), e.auth)
	require.NoError(t, err, "Push(%s)", baseRef)
	base, err := registry.Pull(t.Context(), baseRef, e.auth)
	require.NoError(t, err, "Pull(%s)", baseRef)
	require.NoError(t, validate.Image(base), "validate.Image(base)")
	return base
}

// scratch: a static binary alone, run as a non-root user.
func (e *consumerEnv) scratch(t *testing.T, bin []byte, native string) {
	l, err := layer.FromFiles([]layer.File{{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755}})
	require.NoError(t, err)
	img := build(t, nil, image.WithPlatform(native), image.WithLayers(l),
		image.WithEntrypoint("/usr/local/bin/hello", "echo", "hello from scratch"),
		image.WithEnv("MODE", "static"), image.WithUser("65532:65532"))
	e.consume(t, "static", img, expectation{
		rootfs: []string{"usr d 0755 0:0", "usr/local d 0755 0:0", "usr/local/bin d 0755 0:0", "usr/local/bin/hello f 0755 0:0"},
		runs: []run{
			{want: "hello from scratch\n"},
			{args: []string{"/usr/local/bin/hello", "id"}, want: "65532:65532\n"},
			{args: []string{"/usr/local/bin/hello", "getenv", "MODE"}, want: "static\n"},
		},
		env: "MODE=static",
	})
}

// busybox: layers from a directory and files, deletions and an opaque
// directory on the busybox-style base.
func (e *consumerEnv) busybox(t *testing.T, base v1.Image) {
	app, err := layer.FromDir(appSource(t), layer.WithRoot("/app"), layer.WithOwner(1000, 1000))
	require.NoError(t, err)
	conf, err := layer.FromFiles([]layer.File{
		{Path: "/etc/app.conf", Data: []byte("greeting=hello from the busybox-style base\n"), Mode: 0o644},
		{Path: "/app/current", Mode: fs.ModeSymlink, Linkname: "VERSION"},
	})
	require.NoError(t, err)
	del, err := layer.Delete("/etc/motd", "/var/cache/old")
	require.NoError(t, err)
	opaque, err := layer.New(t.Context(), []layer.Source{layer.Opaque("/usr/share/doc"),
		layer.Files([]layer.File{{Path: "/usr/share/doc/NEW", Data: []byte("new docs\n")}})})
	require.NoError(t, err)
	img := build(t, base, image.WithLayers(app, conf, del, opaque),
		image.WithEntrypoint("/bin/cat"), image.WithCmd("/etc/app.conf"),
		image.WithWorkDir("/app"), image.WithUser("1000:1000"), image.WithEnv("GREETING", "hi"))
	want := slices.DeleteFunc(busyboxBaseRootfs(), func(s string) bool {
		for _, gone := range []string{"etc/motd ", "var/cache/old", "usr/share/doc/README ", "usr/share/doc/old"} {
			if strings.HasPrefix(s, gone) {
				return true
			}
		}
		return false
	})
	want = append(want,
		"app d 0755 0:0",
		"app/VERSION f 0644 1000:1000",
		"app/bin d 0750 1000:1000",
		"app/bin/echo l 0777 1000:1000 -> /bin/toybox",
		"app/current l 0777 0:0 -> VERSION",
		"app/static d 0755 1000:1000",
		"app/static/index.html f 0640 1000:1000",
		"etc/app.conf f 0644 0:0",
		"usr/share/doc/NEW f 0644 0:0",
	)
	e.consume(t, "busybox", img, expectation{
		rootfs:   want,
		contents: map[string]string{"etc/app.conf": "greeting=hello from the busybox-style base\n", "app/VERSION": "v1\n", "etc/group": "root:x:0:\napp:x:1000:\n"},
		runs: []run{
			{want: "greeting=hello from the busybox-style base\n"},
			{args: []string{"/bin/ls", "/etc", "/var/cache", "/usr/share/doc"}, want: "app.conf group passwd\nkeep\nNEW\n"},
			{args: []string{"/app/bin/echo", "through", "a", "symlink"}, want: "through a symlink\n"},
			{args: []string{"/bin/pwd"}, want: "/app\n"},
			{args: []string{"/bin/id"}, want: "1000:1000\n"},
			{args: []string{"/bin/cat", "current", "static/index.html"}, want: "v1\n<h1>hi</h1>\n"},
		},
		env: "GREETING=hi",
	})
}

// appSource is the directory of the busybox test's app layer: files with
// their own modes, a 0750 directory, a symlink to the base's toybox.
func appSource(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	mk := func(rel string, mode fs.FileMode, body string) {
		p := filepath.Join(src, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
	mk("VERSION", 0o644, "v1\n")
	mk("static/index.html", 0o640, "<h1>hi</h1>\n")
	require.NoError(t, os.Mkdir(filepath.Join(src, "bin"), 0o750))
	require.NoError(t, os.Chmod(filepath.Join(src, "bin"), 0o750))
	require.NoError(t, os.Symlink("/bin/toybox", filepath.Join(src, "bin", "echo")))
	return src
}

// zstd: a zstd layer, which umoci reads after skopeo converts it.
func (e *consumerEnv) zstd(t *testing.T, bin []byte, native string) {
	l, err := layer.FromFiles([]layer.File{
		{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755},
		{Path: "/etc/zstd", Data: []byte("compressed with zstd\n")},
	}, layer.WithCompression(layer.Zstd))
	require.NoError(t, err)
	img := build(t, nil, image.WithPlatform(native), image.WithLayers(l),
		image.WithEntrypoint("/usr/local/bin/hello", "cat", "/etc/zstd"))
	m, err := img.Manifest()
	require.NoError(t, err)
	require.Equal(t, types.OCILayerZStd, m.Layers[0].MediaType, "layer media type")
	e.consume(t, "zstd", img, expectation{
		rootfs: []string{"etc d 0755 0:0", "etc/zstd f 0644 0:0", "usr d 0755 0:0", "usr/local d 0755 0:0",
			"usr/local/bin d 0755 0:0", "usr/local/bin/hello f 0755 0:0"},
		runs: []run{{want: "compressed with zstd\n"}},
		zstd: true,
	})
}

// plainAndOurs: the same tar on the same base, added the plain ggcr way
// (which umoci refuses) and through layer and image (which it unpacks).
func (e *consumerEnv) plainAndOurs(t *testing.T, base v1.Image) {
	files := tarOf(t, tartest.Dir("etc/"), tartest.File("etc/greeting", "hi\n"))
	// The plain ggcr way: a tarball layer (Docker media type by
	// default) appended to the OCI base, written with ggcr's layout.
	pl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil })
	require.NoError(t, err)
	plain, err := mutate.AppendLayers(base, pl)
	require.NoError(t, err)
	plainDir := filepath.Join(t.TempDir(), "plain")
	p, err := layout.Write(plainDir, empty.Index)
	require.NoError(t, err)
	require.NoError(t, p.AppendImage(plain, layout.WithAnnotations(map[string]string{image.RefNameAnnotation: "plain"})))
	_, err = itest.UnpackErr(t, plainDir, "plain")
	require.Error(t, err, "umoci unpack of the plain ggcr image (Docker layer in an OCI manifest): want a refusal")
	assert.ErrorContains(t, err, "mediatype", "umoci's refusal of the plain ggcr image: want it for its media type")
	t.Logf("umoci on the plain ggcr image (refusal expected): %s", firstLine(err.Error(), "unpack rootfs"))

	// Ours: the same tar, same base, through layer and image.
	tp := filepath.Join(t.TempDir(), "files.tar")
	require.NoError(t, os.WriteFile(tp, files, 0o644))
	ol, err := layer.FromTarball(tp)
	require.NoError(t, err)
	ours := build(t, base, image.WithLayers(ol))
	dir := filepath.Join(t.TempDir(), "ours")
	require.NoError(t, image.WriteOCILayout(t.Context(), dir, ours, image.WithRefName("ours")))
	bundle := itest.Unpack(t, dir, "ours")
	checkRootfs(t, "ours", filepath.Join(bundle, "rootfs"), append(busyboxBaseRootfs(), "etc/greeting f 0644 0:0"),
		map[string]string{"etc/greeting": "hi\n"})
}

// build runs image.Build and validates the result.
func build(t testing.TB, base v1.Image, opts ...image.Option) v1.Image {
	t.Helper()
	img, err := image.Build(t.Context(), base, opts...)
	require.NoError(t, err, "image.Build")
	// ggcr's validate.Image reads every layer as gzip: zstd images get the
	// fast validation (manifest, config, digests of the blobs as given),
	// and their bytes are checked by skopeo and umoci below.
	var vopts []validate.Option
	if m, err := img.Manifest(); err == nil && slices.ContainsFunc(m.Layers, func(d v1.Descriptor) bool { return d.MediaType == types.OCILayerZStd }) {
		vopts = append(vopts, validate.Fast)
	}
	require.NoError(t, validate.Image(img, vopts...), "validate.Image")
	return img
}

// inspection is what the tests read of `skopeo inspect`.
type inspection struct {
	Digest       string
	Architecture string
	Env          []string
	Layers       []string
}

func inspect(t testing.TB, args ...string) inspection {
	t.Helper()
	out := skopeo(t, args...)
	var i inspection
	require.NoError(t, json.Unmarshal([]byte(out), &i), "skopeo %q: output %q", args, out)
	return i
}

// firstLine returns the first line of s containing sub, or s.
func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return s
}
