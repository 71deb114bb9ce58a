package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// mergedUsrBase is a base no code of ours made (a plain go-containerregistry
// image) shaped like Debian 12 or Ubuntu 24.04: /lib -> usr/lib and /bin ->
// usr/bin, /var/run -> /run, a 1777 /tmp and a 0700 /opt, plus /deldir and
// /opq with files for the deletion tests.
func mergedUsrBase(t testing.TB) v1.Image {
	t.Helper()
	raw := tarOf(t,
		tartest.Dir("usr/"),
		tartest.Dir("usr/bin/"),
		tartest.File("usr/bin/base-tool", "base tool\n").WithMode(0o755),
		tartest.Dir("usr/lib/"),
		tartest.File("usr/lib/libc.so", "libc\n"),
		tartest.Symlink("bin", "usr/bin"),
		tartest.Symlink("lib", "usr/lib"),
		tartest.Dir("run/"),
		tartest.Dir("var/"),
		tartest.Symlink("var/run", "/run"),
		tartest.Dir("tmp/").WithMode(0o1777),
		tartest.Dir("opt/").WithMode(0o700),
		tartest.Dir("deldir/"),
		tartest.File("deldir/old", "old\n"),
		tartest.Dir("opq/"),
		tartest.File("opq/old", "old\n"),
	)
	return plainOCIImage(t, raw, time.Unix(1600000000, 0))
}

// mergedUsrRootfs is mergedUsrBase as rootfsListing shows it.
func mergedUsrRootfs() []string {
	return []string{
		"bin l 0777 0:0 -> usr/bin",
		"deldir d 0755 0:0",
		"deldir/old f 0644 0:0",
		"lib l 0777 0:0 -> usr/lib",
		"opq d 0755 0:0",
		"opq/old f 0644 0:0",
		"opt d 0700 0:0",
		"run d 0755 0:0",
		"tmp d 1777 0:0",
		"usr d 0755 0:0",
		"usr/bin d 0755 0:0",
		"usr/bin/base-tool f 0755 0:0",
		"usr/lib d 0755 0:0",
		"usr/lib/libc.so f 0644 0:0",
		"var d 0755 0:0",
		"var/run l 0777 0:0 -> /run",
	}
}

// unpackEverywhere unpacks img with umoci, containerd's archive.Apply and
// buildah, and checks each rootfs against want.
func unpackEverywhere(t *testing.T, img v1.Image, want []string, contents map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, image.WriteOCILayout(t.Context(), dir, img, image.WithRefName("trust")))
	bundle := itest.Unpack(t, dir, "trust")
	checkRootfs(t, "umoci unpack", filepath.Join(bundle, "rootfs"), want, contents)
	checkRootfs(t, "containerd archive.Apply", itest.ApplyLayers(t, img), want, contents)
	checkRootfs(t, "buildah from", itest.BuildahRootfs(t, dir, "trust"), want, contents)
}

// TestMergedUsrBase (issue items 1 and 2): layers placing files under the
// base's symlinked and special directories keep the links and the modes,
// and the files land under the link targets, as `docker build`'s COPY
// does, for every extractor.
func TestMergedUsrBase(t *testing.T) {
	base := mergedUsrBase(t)
	files, err := layer.FromFiles([]layer.File{
		{Path: "/lib/extra.so", Data: []byte("extra\n")},
		{Path: "/bin/tool", Data: []byte("tool\n"), Mode: 0o755},
		{Path: "/var/run/app.pid", Data: []byte("1\n")},
		{Path: "/tmp/cache/x", Data: []byte("x\n")},
		{Path: "/opt/app/y", Data: []byte("y\n")},
	})
	require.NoError(t, err)
	img, err := image.Build(t.Context(), base, image.WithLayers(files), image.WithWorkDir("/tmp/work"))
	require.NoError(t, err)
	require.NoError(t, validate.Image(img))
	want := append(mergedUsrRootfs(),
		"usr/lib/extra.so f 0644 0:0",
		"usr/bin/tool f 0755 0:0",
		"run/app.pid f 0644 0:0",
		"tmp/cache d 0755 0:0",
		"tmp/cache/x f 0644 0:0",
		"tmp/work d 0755 0:0",
		"opt/app d 0755 0:0",
		"opt/app/y f 0644 0:0",
	)
	unpackEverywhere(t, img, want, map[string]string{"usr/lib/libc.so": "libc\n", "usr/lib/extra.so": "extra\n", "run/app.pid": "1\n"})

	// The same layer used alone emits every parent as 0755 directories:
	// what stevedore did before, which replaced /lib with a directory.
	alone := tarNames(t, files)
	assert.Equal(t, []string{"bin/", "bin/tool", "lib/", "lib/extra.so", "opt/", "opt/app/", "opt/app/y", "tmp/", "tmp/cache/", "tmp/cache/x", "var/", "var/run/", "var/run/app.pid"}, alone,
		"the layer alone (no base)")
}

// TestDeleteThenRecreate (issue item 3): a layer deleting a base
// directory and placing a file under it writes the whiteout first;
// containerd and buildah accept it.
func TestDeleteThenRecreate(t *testing.T) {
	l, err := layer.New(t.Context(), []layer.Source{
		layer.Files([]layer.File{{Path: "/deldir/f", Data: []byte("new\n")}}),
		layer.Deletions("/deldir"),
	})
	require.NoError(t, err)
	img, err := image.Build(t.Context(), mergedUsrBase(t), image.WithLayers(l))
	require.NoError(t, err)
	ls, err := img.Layers()
	require.NoError(t, err)
	assert.Equal(t, []string{".wh.deldir", "deldir/", "deldir/f"}, tarNames(t, ls[len(ls)-1]), "entries of the added layer")
	want := withoutPrefix(mergedUsrRootfs(), "deldir/")
	want = append(want, "deldir/f f 0644 0:0")
	unpackEverywhere(t, img, want, map[string]string{"deldir/f": "new\n"})
}

// TestOpaqueKeepsDirectoryHeader (issue item 4): Opaque before a Dir
// source that places the directory 0700 gives a 0700 directory.
func TestOpaqueKeepsDirectoryHeader(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(src, "opq"), 0o700))
	require.NoError(t, os.Chmod(filepath.Join(src, "opq"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(src, "opq", "new"), []byte("new\n"), 0o644))
	l, err := layer.New(t.Context(), []layer.Source{layer.Opaque("/opq"), layer.Dir(src, layer.WithOnly("opq"))})
	require.NoError(t, err)
	img, err := image.Build(t.Context(), mergedUsrBase(t), image.WithLayers(l))
	require.NoError(t, err)
	want := withoutPrefix(mergedUsrRootfs(), "opq")
	want = append(want, "opq d 0700 0:0", "opq/new f 0644 0:0")
	unpackEverywhere(t, img, want, map[string]string{"opq/new": "new\n"})
}

// TestOnePathOnce (issue item 5): every way of placing a path twice gives
// a layer where it appears once, the last one, which go-containerregistry's
// validate.Layer (crane validate) accepts.
func TestOnePathOnce(t *testing.T) {
	dup := filepath.Join(t.TempDir(), "dup.tar")
	require.NoError(t, os.WriteFile(dup, tarOf(t,
		tartest.File("a", "one"),
		tartest.File("a", "two"),
	), 0o644))
	for name, srcs := range map[string][]layer.Source{
		"Files with a repeated path": {layer.Files([]layer.File{{Path: "/a", Data: []byte("one")}, {Path: "/a", Data: []byte("two")}})},
		"Delete twice":               {layer.Deletions("/a", "/a"), layer.Files([]layer.File{{Path: "/a", Data: []byte("two")}})},
		"two sources, one path": {layer.Files([]layer.File{{Path: "/a", Data: []byte("one")}}),
			layer.Files([]layer.File{{Path: "/a", Data: []byte("two")}})},
		"a tarball with duplicates": {layer.Tarball(dup)},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := layer.New(t.Context(), srcs)
			require.NoError(t, err)
			assert.NoError(t, validate.Layer(l), "validate.Layer")
			names := tarNames(t, l)
			assert.Equal(t, 1, countOf(names, "a"), "entries named a: %q", names)
			img, err := image.Build(t.Context(), mergedUsrBase(t), image.WithLayers(l))
			require.NoError(t, err)
			b, err := os.ReadFile(filepath.Join(itest.ApplyLayers(t, img), "a"))
			require.NoError(t, err)
			assert.Equal(t, "two", string(b), "the last placement wins")
		})
	}
}

// TestDigestIndependentOfLocation (issue item 6): the same content under
// two temp dirs, as a directory and as a tarball, gives one image digest.
func TestDigestIndependentOfLocation(t *testing.T) {
	digest := func() v1.Hash {
		d := t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(d, "src", "app"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "src", "app", "main.js"), []byte("js\n"), 0o644))
		tb := filepath.Join(d, filepath.Base(d)+"-release.tar")
		require.NoError(t, os.WriteFile(tb, tarOf(t, tartest.File("bin/x", "x").WithMode(0o755)), 0o644))
		dl, err := layer.FromDir(filepath.Join(d, "src"), layer.WithRoot("/srv"))
		require.NoError(t, err)
		tl, err := layer.FromTarball(tb, layer.WithRoot("/opt"))
		require.NoError(t, err)
		img, err := image.Build(t.Context(), nil, image.WithLayers(dl, tl))
		require.NoError(t, err)
		return digestOf(t, img)
	}
	assert.Equal(t, digest(), digest(), "image digests from two checkouts")
}

// TestDockerImageInOCILayout (issue item 11): a Docker-typed image written
// to an OCI layout is found by skopeo by its name and unpacked by umoci.
func TestDockerImageInOCILayout(t *testing.T) {
	skopeo := itest.Require(t, "skopeo")[0]
	base := mutate.MediaType(mergedUsrBase(t), types.DockerManifestSchema2)
	base = mutate.ConfigMediaType(base, types.DockerConfigJSON)
	files, err := layer.FromFiles([]layer.File{{Path: "/srv/x", Data: []byte("x\n")}})
	require.NoError(t, err)
	img, err := image.Build(t.Context(), base, image.WithLayers(files))
	require.NoError(t, err)
	mt, err := img.MediaType()
	require.NoError(t, err)
	require.Equal(t, types.DockerManifestSchema2, mt, "the built image keeps the base's family")
	dir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, image.WriteOCILayout(context.Background(), dir, img, image.WithRefName("dock")))
	out := itest.Run(t, skopeo, "inspect", "--raw", "oci:"+dir+":dock")
	assert.Contains(t, out, string(types.OCIManifestSchema1), "skopeo inspect finds the image by name, OCI-typed")
	bundle := itest.Unpack(t, dir, "dock")
	b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "srv", "x"))
	require.NoError(t, err)
	assert.Equal(t, "x\n", string(b))
}

// tarNames lists the entry names of a layer's tar.
func tarNames(t testing.TB, l v1.Layer) []string {
	t.Helper()
	var names []string
	for _, e := range tartest.ReadLayer(t, l) {
		names = append(names, e.Header.Name)
	}
	return names
}

func countOf(names []string, n string) int {
	c := 0
	for _, x := range names {
		if x == n {
			c++
		}
	}
	return c
}

// withoutPrefix drops the listing lines of path p and below.
func withoutPrefix(lines []string, p string) []string {
	var out []string
	for _, l := range lines {
		if len(l) >= len(p) && l[:len(p)] == p {
			continue
		}
		out = append(out, l)
	}
	return out
}
