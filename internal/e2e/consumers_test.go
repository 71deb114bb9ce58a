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
	ctx := t.Context()
	e := &consumerEnv{d: itest.StartDistribution(t, "e2e", "e2e-Pw-7f3k", nil, nil)}
	e.auth = registry.WithBasicAuth(e.d.User, e.d.Password)
	bin := toybox(t)
	native := "linux/" + runtime.GOARCH

	// The busybox-style base, made the plain ggcr way, pushed, pulled back.
	baseRef := e.d.Ref("e2e/base:v1")
	if _, err := registry.Push(ctx, baseRef, plainOCIBase(t), e.auth); err != nil {
		t.Fatalf("Push(%s) = %v", baseRef, err)
	}
	base, err := registry.Pull(ctx, baseRef, e.auth)
	if err != nil {
		t.Fatalf("Pull(%s) = %v", baseRef, err)
	}
	if err := validate.Image(base); err != nil {
		t.Fatalf("validate.Image(base) = %v", err)
	}

	t.Run("scratch static binary", func(t *testing.T) {
		l, err := layer.FromFiles([]layer.File{{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755}})
		if err != nil {
			t.Fatal(err)
		}
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
	})

	t.Run("busybox base, layers and whiteouts", func(t *testing.T) {
		src := t.TempDir()
		mk := func(rel string, mode fs.FileMode, body string) {
			p := filepath.Join(src, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, mode); err != nil {
				t.Fatal(err)
			}
		}
		mk("VERSION", 0o644, "v1\n")
		mk("static/index.html", 0o640, "<h1>hi</h1>\n")
		if err := os.Mkdir(filepath.Join(src, "bin"), 0o750); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(src, "bin"), 0o750)
		if err := os.Symlink("/bin/toybox", filepath.Join(src, "bin", "echo")); err != nil {
			t.Fatal(err)
		}
		app, err := layer.FromDir(src, layer.WithRoot("/app"), layer.WithOwner(1000, 1000))
		if err != nil {
			t.Fatal(err)
		}
		conf, err := layer.FromFiles([]layer.File{
			{Path: "/etc/app.conf", Data: []byte("greeting=hello from the busybox-style base\n"), Mode: 0o644},
			{Path: "/app/current", Mode: fs.ModeSymlink, Linkname: "VERSION"},
		})
		if err != nil {
			t.Fatal(err)
		}
		del, err := layer.Delete("/etc/motd", "/var/cache/old")
		if err != nil {
			t.Fatal(err)
		}
		opaque, err := layer.New(ctx, []layer.Source{layer.Opaque("/usr/share/doc"),
			layer.Files([]layer.File{{Path: "/usr/share/doc/NEW", Data: []byte("new docs\n")}})})
		if err != nil {
			t.Fatal(err)
		}
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
	})

	t.Run("zstd", func(t *testing.T) {
		l, err := layer.FromFiles([]layer.File{
			{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755},
			{Path: "/etc/zstd", Data: []byte("compressed with zstd\n")},
		}, layer.WithCompression(layer.Zstd))
		if err != nil {
			t.Fatal(err)
		}
		img := build(t, nil, image.WithPlatform(native), image.WithLayers(l),
			image.WithEntrypoint("/usr/local/bin/hello", "cat", "/etc/zstd"))
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if mt := m.Layers[0].MediaType; mt != types.OCILayerZStd {
			t.Fatalf("layer media type = %s, want %s", mt, types.OCILayerZStd)
		}
		e.consume(t, "zstd", img, expectation{
			rootfs: []string{"etc d 0755 0:0", "etc/zstd f 0644 0:0", "usr d 0755 0:0", "usr/local d 0755 0:0",
				"usr/local/bin d 0755 0:0", "usr/local/bin/hello f 0755 0:0"},
			runs: []run{{want: "compressed with zstd\n"}},
			zstd: true,
		})
	})

	for _, c := range []layer.Compression{layer.EStargz, layer.ZstdChunked} {
		t.Run(c.String(), func(t *testing.T) { e.lazy(t, base, bin, c) })
	}

	t.Run("multi-platform index", func(t *testing.T) {
		e.index(t, bin, native)
	})

	t.Run("plain ggcr fails umoci, ours passes", func(t *testing.T) {
		files := tarOf(t, tartest.Dir("etc/"), tartest.File("etc/greeting", "hi\n"))
		// The plain ggcr way: a tarball layer (Docker media type by
		// default) appended to the OCI base, written with ggcr's layout.
		pl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil })
		if err != nil {
			t.Fatal(err)
		}
		plain, err := mutate.AppendLayers(base, pl)
		if err != nil {
			t.Fatal(err)
		}
		plainDir := filepath.Join(t.TempDir(), "plain")
		p, err := layout.Write(plainDir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(plain, layout.WithAnnotations(map[string]string{image.RefNameAnnotation: "plain"})); err != nil {
			t.Fatal(err)
		}
		_, err = itest.UnpackErr(t, plainDir, "plain")
		if err == nil {
			t.Fatal("umoci unpack accepted the plain ggcr image (Docker layer in an OCI manifest); want a refusal")
		}
		if !strings.Contains(err.Error(), "mediatype") {
			t.Errorf("umoci refused the plain ggcr image, but not for its media type: %v", err)
		}
		t.Logf("umoci on the plain ggcr image (refusal expected): %s", firstLine(err.Error(), "unpack rootfs"))

		// Ours: the same tar, same base, through layer and image.
		tp := filepath.Join(t.TempDir(), "files.tar")
		if err := os.WriteFile(tp, files, 0o644); err != nil {
			t.Fatal(err)
		}
		ol, err := layer.FromTarball(tp)
		if err != nil {
			t.Fatal(err)
		}
		ours := build(t, base, image.WithLayers(ol))
		dir := filepath.Join(t.TempDir(), "ours")
		if err := image.WriteOCILayout(ctx, dir, ours, image.WithRefName("ours")); err != nil {
			t.Fatal(err)
		}
		bundle := itest.Unpack(t, dir, "ours")
		checkRootfs(t, "ours", filepath.Join(bundle, "rootfs"), append(busyboxBaseRootfs(), "etc/greeting f 0644 0:0"),
			map[string]string{"etc/greeting": "hi\n"})
	})
}

// build runs image.Build and validates the result.
func build(t testing.TB, base v1.Image, opts ...image.Option) v1.Image {
	t.Helper()
	img, err := image.Build(t.Context(), base, opts...)
	if err != nil {
		t.Fatalf("image.Build = %v", err)
	}
	// ggcr's validate.Image reads every layer as gzip: zstd images get the
	// fast validation (manifest, config, digests of the blobs as given),
	// and their bytes are checked by skopeo and umoci below.
	var vopts []validate.Option
	if m, err := img.Manifest(); err == nil && slices.ContainsFunc(m.Layers, func(d v1.Descriptor) bool { return d.MediaType == types.OCILayerZStd }) {
		vopts = append(vopts, validate.Fast)
	}
	if err := validate.Image(img, vopts...); err != nil {
		t.Fatalf("validate.Image = %v", err)
	}
	return img
}

// consume runs every consumer on img: a push read back by skopeo (inspect,
// copy to an OCI layout, unpacked by umoci and run by runc), an OCI
// tarball and a docker tarball read by skopeo, and an OCI layout unpacked
// by umoci and run by runc.
func (e *consumerEnv) consume(t *testing.T, name string, img v1.Image, want expectation) {
	ctx := t.Context()
	ref := e.d.Ref("e2e/" + name + ":v1")
	pushed, err := registry.Push(ctx, ref, img, e.auth)
	if err != nil {
		t.Fatalf("Push(%s) = %v", ref, err)
	}
	wantDigest := digestOf(t, img)
	if pushed.DigestStr() != wantDigest.String() {
		t.Fatalf("Push(%s) = %s, want %s", ref, pushed, wantDigest)
	}
	tmp := t.TempDir()

	// unpackAndRun unpacks the layout entry with umoci (after a gzip
	// conversion for zstd images), checks the rootfs and runs the bundle.
	unpackAndRun := func(t *testing.T, what, dir, tag string) {
		if want.zstd {
			gz := filepath.Join(t.TempDir(), "gzip")
			skopeo(t, "copy", "--dest-compress-format", "gzip", "oci:"+dir+":"+tag, "oci:"+gz+":"+tag)
			dir = gz
		}
		bundle := itest.Unpack(t, dir, tag)
		checkRootfs(t, what, filepath.Join(bundle, "rootfs"), want.rootfs, want.contents)
		for _, r := range want.runs {
			if got := itest.RunBundle(t, bundle, r.args...); got != r.want {
				t.Errorf("%s: runc run %q printed %q, want %q", what, r.args, got, r.want)
			}
		}
	}

	t.Run("registry", func(t *testing.T) {
		insp := inspect(t, append([]string{"inspect"}, append(e.inspectFlags(), "docker://"+ref)...)...)
		if insp.Digest != wantDigest.String() {
			t.Errorf("skopeo inspect docker://%s: Digest = %s, want %s", ref, insp.Digest, wantDigest)
		}
		if want.env != "" && !slices.Contains(insp.Env, want.env) {
			t.Errorf("skopeo inspect docker://%s: Env = %q, want %q in it", ref, insp.Env, want.env)
		}
		dir := filepath.Join(tmp, "from-registry")
		skopeo(t, append(append([]string{"copy", "--preserve-digests"}, e.srcFlags()...), "docker://"+ref, "oci:"+dir+":v1")...)
		if got := layoutDigest(t, dir, "v1"); got != wantDigest {
			t.Errorf("skopeo copy docker://%s: digest %s, want %s", ref, got, wantDigest)
		}
		if want.tocs > 0 {
			lay, err := image.ReadOCILayout(dir)
			require.NoError(t, err)
			copied, err := lay.Image("v1")
			require.NoError(t, err)
			verifyTOCs(t, copied, want.tocs)
		}
		unpackAndRun(t, "registry -> skopeo -> umoci", dir, "v1")
	})

	t.Run("oci-archive", func(t *testing.T) {
		p := filepath.Join(tmp, name+".oci.tar")
		if err := image.WriteOCITarball(ctx, p, img, image.WithRefName("v1")); err != nil {
			t.Fatal(err)
		}
		insp := inspect(t, "inspect", "oci-archive:"+p)
		if insp.Digest != wantDigest.String() {
			t.Errorf("skopeo inspect oci-archive:%s: Digest = %s, want %s", p, insp.Digest, wantDigest)
		}
		dir := filepath.Join(tmp, "from-oci-archive")
		skopeo(t, "copy", "--preserve-digests", "oci-archive:"+p, "oci:"+dir+":v1")
		if got := layoutDigest(t, dir, "v1"); got != wantDigest {
			t.Errorf("skopeo copy oci-archive:%s: digest %s, want %s", p, got, wantDigest)
		}
		unpackAndRun(t, "oci-archive -> skopeo -> umoci", dir, "v1")
	})

	t.Run("docker-archive", func(t *testing.T) {
		p := filepath.Join(tmp, name+".docker.tar")
		if err := image.WriteDockerTarball(ctx, p, "example.com/e2e/"+name+":v1", img); err != nil {
			t.Fatal(err)
		}
		insp := inspect(t, "inspect", "docker-archive:"+p)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if insp.Architecture != cf.Architecture || !slices.Equal(insp.Env, cf.Config.Env) {
			t.Errorf("skopeo inspect docker-archive:%s: %s %q, want %s %q", p, insp.Architecture, insp.Env, cf.Architecture, cf.Config.Env)
		}
		// skopeo converts a docker archive (no manifest of ours in it):
		// check what it unpacks to, not digests.
		dir := filepath.Join(tmp, "from-docker-archive")
		skopeo(t, "copy", "docker-archive:"+p, "oci:"+dir+":v1")
		w := want
		w.zstd = false // skopeo wrote gzip layers
		bundle := itest.Unpack(t, dir, "v1")
		checkRootfs(t, "docker-archive -> skopeo -> umoci", filepath.Join(bundle, "rootfs"), w.rootfs, w.contents)
	})

	t.Run("oci layout", func(t *testing.T) {
		dir := filepath.Join(tmp, "layout")
		if err := image.WriteOCILayout(ctx, dir, img, image.WithRefName("v1")); err != nil {
			t.Fatal(err)
		}
		unpackAndRun(t, "WriteOCILayout -> umoci", dir, "v1")
	})
}

// index builds a two-platform index (the native platform runs under runc;
// the other is unpacked only), pushes it, and has skopeo and umoci read it.
func (e *consumerEnv) index(t *testing.T, bin []byte, native string) {
	ctx := t.Context()
	other := "linux/arm64"
	if native == other {
		other = "linux/amd64"
	}
	shared, err := layer.FromFiles([]layer.File{{Path: "/etc/shared", Data: []byte("shared\n")}})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms(native, other), image.WithLayers(shared),
		image.WithPlatformLayers(func(p v1.Platform) ([]v1.Layer, error) {
			files := []layer.File{{Path: "/etc/platform", Data: []byte(p.String() + "\n")}}
			if p.String() == native {
				files = append(files, layer.File{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755})
			}
			l, err := layer.FromFiles(files)
			if err != nil {
				return nil, err
			}
			return []v1.Layer{l}, nil
		}),
		image.WithEntrypoint("/usr/local/bin/hello", "cat", "/etc/platform"))
	if err != nil {
		t.Fatalf("BuildIndex = %v", err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate.Index = %v", err)
	}
	wantDigest := digestOf(t, idx)
	ref := e.d.Ref("e2e/index:v1")
	pushed, err := registry.PushIndex(ctx, ref, idx, e.auth)
	if err != nil {
		t.Fatalf("PushIndex(%s) = %v", ref, err)
	}
	if pushed.DigestStr() != wantDigest.String() {
		t.Fatalf("PushIndex(%s) = %s, want %s", ref, pushed, wantDigest)
	}
	raw := skopeo(t, append(append([]string{"inspect", "--raw"}, e.inspectFlags()...), "docker://"+ref)...)
	im, err := v1.ParseIndexManifest(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("skopeo inspect --raw: %v\n%s", err, raw)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
	}
	if want := []string{native, other}; !slices.Equal(plats, want) {
		t.Errorf("skopeo inspect --raw: platforms %q, want %q", plats, want)
	}
	if got := "sha256:" + sha256Hex([]byte(raw)); got != wantDigest.String() {
		t.Errorf("skopeo inspect --raw: index digest %s, want %s", got, wantDigest)
	}

	all := filepath.Join(t.TempDir(), "all")
	skopeo(t, append(append([]string{"copy", "--all", "--preserve-digests"}, e.srcFlags()...), "docker://"+ref, "oci:"+all+":idx")...)
	if got := layoutDigest(t, all, "idx"); got != wantDigest {
		t.Errorf("skopeo copy --all: digest %s, want %s", got, wantDigest)
	}
	p := filepath.Join(t.TempDir(), "idx.oci.tar")
	if err := image.WriteOCITarball(ctx, p, idx, image.WithRefName("idx")); err != nil {
		t.Fatal(err)
	}
	if raw := skopeo(t, "inspect", "--raw", "oci-archive:"+p); "sha256:"+sha256Hex([]byte(raw)) != wantDigest.String() {
		t.Errorf("skopeo inspect --raw oci-archive:%s: not our index:\n%s", p, raw)
	}

	for _, plat := range []string{native, other} {
		arch := strings.TrimPrefix(plat, "linux/")
		dir := filepath.Join(t.TempDir(), arch)
		skopeo(t, append(append([]string{"--override-os", "linux", "--override-arch", arch, "copy"}, e.srcFlags()...), "docker://"+ref, "oci:"+dir+":"+arch)...)
		bundle := itest.Unpack(t, dir, arch)
		want := []string{"etc d 0755 0:0", "etc/platform f 0644 0:0", "etc/shared f 0644 0:0"}
		if plat == native {
			want = append(want, "usr d 0755 0:0", "usr/local d 0755 0:0", "usr/local/bin d 0755 0:0", "usr/local/bin/hello f 0755 0:0")
		}
		checkRootfs(t, plat, filepath.Join(bundle, "rootfs"), want, map[string]string{"etc/platform": plat + "\n", "etc/shared": "shared\n"})
		if plat == native {
			if got := itest.RunBundle(t, bundle); got != native+"\n" {
				t.Errorf("runc run of the %s image printed %q, want %q", native, got, native+"\n")
			}
		}
	}
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
	if err := json.Unmarshal([]byte(out), &i); err != nil {
		t.Fatalf("skopeo %q: output %q: %v", args, out, err)
	}
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
