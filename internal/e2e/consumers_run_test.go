package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

// consumption is one image of TestConsumers on its way through every
// consumer: pushed as ref, with the digest it must keep, and what the
// consumers must see of it.
type consumption struct {
	e          *consumerEnv
	name       string
	img        v1.Image
	want       expectation
	ref        string
	wantDigest v1.Hash
	tmp        string
}

// consume runs every consumer on img: a push read back by skopeo (inspect,
// copy to an OCI layout, unpacked by umoci and run by runc), an OCI
// tarball and a docker tarball read by skopeo, and an OCI layout unpacked
// by umoci and run by runc.
func (e *consumerEnv) consume(t *testing.T, name string, img v1.Image, want expectation) {
	c := &consumption{e: e, name: name, img: img, want: want,
		ref: e.d.Ref("e2e/" + name + ":v1"), wantDigest: digestOf(t, img), tmp: t.TempDir()}
	pushed, err := registry.Push(t.Context(), c.ref, img, e.auth)
	require.NoError(t, err, "Push(%s)", c.ref)
	require.Equal(t, c.wantDigest.String(), pushed.DigestStr(), "Push(%s)", c.ref)
	t.Run("registry", c.fromRegistry)
	t.Run("oci-archive", c.fromOCIArchive)
	t.Run("docker-archive", c.fromDockerArchive)
	t.Run("oci layout", c.fromLayout)
}

// unpackAndRun unpacks the layout entry with umoci (after a gzip
// conversion for zstd images), checks the rootfs and runs the bundle.
func (c *consumption) unpackAndRun(t *testing.T, what, dir, tag string) {
	t.Helper()
	if c.want.zstd {
		gz := filepath.Join(t.TempDir(), "gzip")
		skopeo(t, "copy", "--dest-compress-format", "gzip", "oci:"+dir+":"+tag, "oci:"+gz+":"+tag)
		dir = gz
	}
	bundle := itest.Unpack(t, dir, tag)
	checkRootfs(t, what, filepath.Join(bundle, "rootfs"), c.want.rootfs, c.want.contents)
	for _, r := range c.want.runs {
		assert.Equal(t, r.want, itest.RunBundle(t, bundle, r.args...), "%s: output of runc run %q", what, r.args)
	}
}

func (c *consumption) fromRegistry(t *testing.T) {
	insp := inspect(t, append([]string{"inspect"}, append(c.e.inspectFlags(), "docker://"+c.ref)...)...)
	assert.Equal(t, c.wantDigest.String(), insp.Digest, "skopeo inspect docker://%s: Digest", c.ref)
	if c.want.env != "" {
		assert.Contains(t, insp.Env, c.want.env, "skopeo inspect docker://%s: Env", c.ref)
	}
	dir := filepath.Join(c.tmp, "from-registry")
	skopeo(t, append(append([]string{"copy", "--preserve-digests"}, c.e.srcFlags()...), "docker://"+c.ref, "oci:"+dir+":v1")...)
	assert.Equal(t, c.wantDigest, layoutDigest(t, dir, "v1"), "skopeo copy docker://%s: digest", c.ref)
	if c.want.tocs > 0 {
		lay, err := image.ReadOCILayout(dir)
		require.NoError(t, err)
		copied, err := lay.Image("v1")
		require.NoError(t, err)
		verifyTOCs(t, copied, c.want.tocs)
	}
	c.unpackAndRun(t, "registry -> skopeo -> umoci", dir, "v1")
}

func (c *consumption) fromOCIArchive(t *testing.T) {
	p := filepath.Join(c.tmp, c.name+".oci.tar")
	require.NoError(t, image.WriteOCITarball(t.Context(), p, c.img, image.WithRefName("v1")))
	insp := inspect(t, "inspect", "oci-archive:"+p)
	assert.Equal(t, c.wantDigest.String(), insp.Digest, "skopeo inspect oci-archive:%s: Digest", p)
	dir := filepath.Join(c.tmp, "from-oci-archive")
	skopeo(t, "copy", "--preserve-digests", "oci-archive:"+p, "oci:"+dir+":v1")
	assert.Equal(t, c.wantDigest, layoutDigest(t, dir, "v1"), "skopeo copy oci-archive:%s: digest", p)
	c.unpackAndRun(t, "oci-archive -> skopeo -> umoci", dir, "v1")
}

func (c *consumption) fromDockerArchive(t *testing.T) {
	p := filepath.Join(c.tmp, c.name+".docker.tar")
	require.NoError(t, image.WriteDockerTarball(t.Context(), p, "example.com/e2e/"+c.name+":v1", c.img))
	insp := inspect(t, "inspect", "docker-archive:"+p)
	cf, err := c.img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, cf.Architecture, insp.Architecture, "skopeo inspect docker-archive:%s: Architecture", p)
	assert.True(t, slices.Equal(cf.Config.Env, insp.Env), "skopeo inspect docker-archive:%s: Env %q, want %q", p, insp.Env, cf.Config.Env)
	// skopeo converts a docker archive (no manifest of ours in it):
	// check what it unpacks to, not digests. It wrote gzip layers.
	dir := filepath.Join(c.tmp, "from-docker-archive")
	skopeo(t, "copy", "docker-archive:"+p, "oci:"+dir+":v1")
	bundle := itest.Unpack(t, dir, "v1")
	checkRootfs(t, "docker-archive -> skopeo -> umoci", filepath.Join(bundle, "rootfs"), c.want.rootfs, c.want.contents)
}

func (c *consumption) fromLayout(t *testing.T) {
	dir := filepath.Join(c.tmp, "layout")
	require.NoError(t, image.WriteOCILayout(t.Context(), dir, c.img, image.WithRefName("v1")))
	c.unpackAndRun(t, "WriteOCILayout -> umoci", dir, "v1")
}

// index builds a two-platform index (the native platform runs under runc;
// the other is unpacked only), pushes it, and has skopeo and umoci read it.
func (e *consumerEnv) index(t *testing.T, bin []byte, native string) {
	other := "linux/arm64"
	if native == other {
		other = "linux/amd64"
	}
	idx := twoPlatformIndex(t, bin, native, other)
	wantDigest := digestOf(t, idx)
	ref := e.d.Ref("e2e/index:v1")
	pushed, err := registry.PushIndex(t.Context(), ref, idx, e.auth)
	require.NoError(t, err, "PushIndex(%s)", ref)
	require.Equal(t, wantDigest.String(), pushed.DigestStr(), "PushIndex(%s)", ref)
	e.checkIndexRead(t, ref, idx, wantDigest, []string{native, other})
	for _, plat := range []string{native, other} {
		e.checkIndexPlatform(t, ref, plat, plat == native)
	}
}

// twoPlatformIndex is an index for native and other sharing a layer,
// each with its own /etc/platform; only native's holds the toybox
// binary.
func twoPlatformIndex(t *testing.T, bin []byte, native, other string) v1.ImageIndex {
	t.Helper()
	shared, err := layer.FromFiles([]layer.File{{Path: "/etc/shared", Data: []byte("shared\n")}})
	require.NoError(t, err)
	idx, err := image.BuildIndex(t.Context(), nil, image.WithPlatforms(native, other), image.WithLayers(shared),
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
	require.NoError(t, err, "BuildIndex")
	require.NoError(t, validate.Index(idx), "validate.Index")
	return idx
}

// checkIndexRead checks that skopeo reads the pushed index at ref, and
// the OCI tarball of idx, as the index of digest want with plats.
func (e *consumerEnv) checkIndexRead(t *testing.T, ref string, idx v1.ImageIndex, want v1.Hash, plats []string) {
	t.Helper()
	raw := skopeo(t, append(append([]string{"inspect", "--raw"}, e.inspectFlags()...), "docker://"+ref)...)
	im, err := v1.ParseIndexManifest(strings.NewReader(raw))
	require.NoError(t, err, "skopeo inspect --raw:\n%s", raw)
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.String())
	}
	assert.Equal(t, plats, got, "skopeo inspect --raw: platforms")
	assert.Equal(t, want.String(), "sha256:"+sha256Hex([]byte(raw)), "skopeo inspect --raw: index digest")

	all := filepath.Join(t.TempDir(), "all")
	skopeo(t, append(append([]string{"copy", "--all", "--preserve-digests"}, e.srcFlags()...), "docker://"+ref, "oci:"+all+":idx")...)
	assert.Equal(t, want, layoutDigest(t, all, "idx"), "skopeo copy --all: digest")
	p := filepath.Join(t.TempDir(), "idx.oci.tar")
	require.NoError(t, image.WriteOCITarball(t.Context(), p, idx, image.WithRefName("idx")))
	raw = skopeo(t, "inspect", "--raw", "oci-archive:"+p)
	assert.Equal(t, want.String(), "sha256:"+sha256Hex([]byte(raw)), "skopeo inspect --raw oci-archive:%s: want our index", p)
}

// checkIndexPlatform has skopeo copy plat's image of the index at ref and
// umoci unpack it; the native one also runs under runc.
func (e *consumerEnv) checkIndexPlatform(t *testing.T, ref, plat string, native bool) {
	t.Helper()
	arch := strings.TrimPrefix(plat, "linux/")
	dir := filepath.Join(t.TempDir(), arch)
	skopeo(t, append(append([]string{"--override-os", "linux", "--override-arch", arch, "copy"}, e.srcFlags()...), "docker://"+ref, "oci:"+dir+":"+arch)...)
	bundle := itest.Unpack(t, dir, arch)
	want := []string{"etc d 0755 0:0", "etc/platform f 0644 0:0", "etc/shared f 0644 0:0"}
	if native {
		want = append(want, "usr d 0755 0:0", "usr/local d 0755 0:0", "usr/local/bin d 0755 0:0", "usr/local/bin/hello f 0755 0:0")
	}
	checkRootfs(t, plat, filepath.Join(bundle, "rootfs"), want, map[string]string{"etc/platform": plat + "\n", "etc/shared": "shared\n"})
	if native {
		assert.Equal(t, plat+"\n", itest.RunBundle(t, bundle), "runc run of the %s image", plat)
	}
}
