package bench

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// The benchmarks compare two ways of doing the same job; these tests check,
// on tiny inputs, that the two ways do produce the same file trees and
// valid layers and images, so the comparison is fair.

// writeTarGz writes es as a gzip tar at p, with the data's mtime.
func writeTarGz(t *testing.T, p string, es []tartest.Entry) {
	t.Helper()
	require.NoError(t, os.WriteFile(p, tartest.Gzip(t, tartest.New(es...).WithModTime(dataEpoch).Bytes(t)), 0o644))
}

// tree lists a layer's non-directory entries as "name type mode sha".
func tree(t *testing.T, l v1.Layer) []string {
	t.Helper()
	var out []string
	for _, e := range tartest.ReadLayer(t, l) {
		hdr := e.Header
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		sum := sha256.Sum256([]byte(e.Body))
		out = append(out, strings.Join([]string{strings.TrimPrefix(hdr.Name, "./"), string(hdr.Typeflag), hdr.Linkname,
			hex.EncodeToString(sum[:])[:12]}, " "))
	}
	slices.Sort(out)
	return out
}

func sameTree(t *testing.T, what string, plain, ours v1.Layer) {
	t.Helper()
	require.NoError(t, validate.Layer(plain))
	require.NoError(t, validate.Layer(ours))
	p, o := tree(t, plain), tree(t, ours)
	assert.NotEmpty(t, p, "%s: tree of the plain way", what)
	assert.Equal(t, p, o, "%s: trees of the plain way and of stevedore", what)
}

var tinyRelease = []tartest.Entry{
	tartest.Dir("go/"),
	tartest.File("go/VERSION", "go1.99\n"),
	tartest.Dir("go/bin/"),
	tartest.File("go/bin/go", "\x7fELF go").WithMode(0o755),
	tartest.Hardlink("go/bin/gofmt", "go/bin/go").WithMode(0o755),
	tartest.File("go/src/fmt/print.go", "package fmt\n"),
}

func TestReleaseWaysAgree(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "go.tar.gz")
	writeTarGz(t, gz, tinyRelease)
	plain, err := plainTarballLayer(dir, gz, "usr/local", keepGo)
	require.NoError(t, err)
	ours, err := layer.FromTarball(gz, layer.WithOnly("go"), layer.WithRoot("/usr/local"), layer.WithTempDir(dir))
	require.NoError(t, err)
	sameTree(t, "release under /usr/local", plain, ours)
	got := tree(t, ours)
	assert.True(t, slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "usr/local/go/bin/gofmt 1 usr/local/go/bin/go ") }),
		"tree(stevedore layer) = %q, want the hardlink usr/local/go/bin/gofmt -> usr/local/go/bin/go", got)
}

func TestMonorepoWaysAgree(t *testing.T) {
	root := t.TempDir()
	for _, a := range []area{{paymentsDir + "/src", 30, 1 << 10, false}, {"services/other", 10, 1 << 10, false}, {"libs", 10, 1 << 10, true}} {
		require.NoError(t, writeArea(root, a))
	}
	spool := t.TempDir()
	plain, err := plainDirLayer(spool, root, []string{paymentsDir})
	require.NoError(t, err)
	ours, err := layer.FromDir(root, layer.WithInclude(paymentsDir), layer.WithTempDir(spool))
	require.NoError(t, err)
	sameTree(t, "monorepo service", plain, ours)
	assert.Len(t, tree(t, ours), 30, "files of FromDir(WithInclude(%q))", paymentsDir)
}

// pushedImage reads back and validates what a way pushed.
func pushedImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := plainRef(ref)
	require.NoError(t, err)
	img, err := remote.Image(r)
	require.NoError(t, err)
	require.NoError(t, validate.Image(img))
	return img
}

// lastLayers returns the trees of the last n layers of img.
func lastLayers(t *testing.T, img v1.Image, n int) [][]string {
	t.Helper()
	ls, err := img.Layers()
	require.NoError(t, err)
	var out [][]string
	for _, l := range ls[len(ls)-n:] {
		out = append(out, tree(t, l))
	}
	return out
}

func TestImageWaysAgree(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	goGz, koGz := filepath.Join(dir, "go.tar.gz"), filepath.Join(dir, "ko.tar.gz")
	writeTarGz(t, goGz, tinyRelease)
	writeTarGz(t, koGz, []tartest.Entry{
		tartest.File("LICENSE", "license"),
		tartest.File("ko", "\x7fELF ko").WithMode(0o755),
	})
	srv := freshRegistry(t, true)
	defer srv.Close()

	// Both ways mount the base's layers from the base repository. The
	// plain way downloads only the base config; stevedore also reads each
	// base layer once, to place its layers on the base's file tree (see
	// image.Build), which image.WithCache keeps for the next build.
	srv.ResetStats()
	require.NoError(t, plainToolchain(ctx, dir, srv.Ref(baseRepo), srv.Ref("plain/toolchain:go"), goGz, koGz))
	plainStats := srv.Stats()
	srv.ResetStats()
	require.NoError(t, oursToolchain(ctx, t.TempDir(), t.TempDir(), nil, srv.Ref(baseRepo), srv.Ref("ours/toolchain:go"), goGz, koGz))
	oursStats := srv.Stats()
	for way, st := range map[string]registrytest.Stats{"plain": plainStats, "stevedore": oursStats} {
		want := map[string]int{"plain": 1, "stevedore": 3}[way]
		assert.Equal(t, 2, st.Mounts, "%s way: mounts (the base layers)", way)
		assert.Len(t, st.Downloads, want, "%s way: blobs downloaded", way)
	}
	plain, ours := pushedImage(t, srv.Ref("plain/toolchain:go")), pushedImage(t, srv.Ref("ours/toolchain:go"))
	// stevedore adds a layer for the working directory before them.
	pl, ol := lastLayers(t, plain, 2), lastLayers(t, ours, 2)
	for i := range pl {
		assert.NotEmpty(t, pl[i], "toolchain layer %d of the plain way", i)
		assert.Equal(t, pl[i], ol[i], "toolchain layer %d: plain way, stevedore", i)
	}
	pc, err := plain.ConfigFile()
	require.NoError(t, err)
	oc, err := ours.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, pc.Config.WorkingDir, oc.Config.WorkingDir, "toolchain config: working dir of the plain way, of stevedore")
	assert.ElementsMatch(t, pc.Config.Env, oc.Config.Env, "toolchain config: env of the plain way, of stevedore")

	bin := filepath.Join(dir, "hello")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF hello"), 0o755))
	require.NoError(t, plainApp(ctx, dir, bin, srv.Ref("plain/hello:latest")))
	require.NoError(t, oursApp(ctx, t.TempDir(), bin, srv.Ref("ours/hello:latest")))
	plain, ours = pushedImage(t, srv.Ref("plain/hello:latest")), pushedImage(t, srv.Ref("ours/hello:latest"))
	assert.Equal(t, lastLayers(t, plain, 1)[0], lastLayers(t, ours, 1)[0], "app layer: plain way, stevedore")
}
