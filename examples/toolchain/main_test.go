package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spdx/tools-golang/spdx"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/lazypull/lazypulltest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// sharedCache is one layer cache for the whole test binary: the local Go
// tree (~270 MB) is then compressed once, by whichever test comes first.
var sharedCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "toolchain-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestDefault runs the README's command (no flags but -o and -cache, to
// keep the repository and the user's cache clean) twice: a Go toolchain
// image of the local Go installation on the in-process minimal base.
func TestDefault(t *testing.T) {
	dir := t.TempDir()
	out1, out2 := filepath.Join(dir, "a.oci.tar"), filepath.Join(dir, "b.oci.tar")
	r1 := exampletest.Run(t, run, "-o", out1, "-cache", sharedCache)
	before := exampletest.CacheBlobs(t, sharedCache)
	r2 := exampletest.Run(t, run, "-o", out2, "-cache", sharedCache)
	after := exampletest.CacheBlobs(t, sharedCache)
	assert.NotEmpty(t, before, "the layer cache after a build")
	for blob, ino := range before {
		assert.Equal(t, ino, after[blob], "inode of cache blob %s after the second run (a new one: the Go layer was rebuilt, not reused)", blob)
	}
	require.Equal(t, out1, r1.Name, "file printed by the first run (%s)", r1.Ref)
	require.Equal(t, out2, r2.Name, "file printed by the second run (%s)", r2.Ref)
	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	assert.Empty(t, r1.Stderr, "stderr without -v")

	img := exampletest.OpenTarball(t, out1, "latest", r1.Digest)
	local, err := localGo(context.Background())
	require.NoError(t, err)
	checkDefaultImage(t, img, local)

	// -sbom is on by default: the SBOM lists the Go executables of the
	// toolchain, found as its layer was written.
	att := exampletest.TarballAttestations(t, out1, r1.Digest)
	assert.Len(t, att, 2, "artifacts attached to the image")
	checkGoInSBOM(t, att.SBOM(t), local)
}

// checkDefaultImage checks the image the default command built: the
// local Go installation on the minimal base, for linux/amd64.
func checkDefaultImage(t *testing.T, img v1.Image, local *localInstall) {
	t.Helper()
	checkToolchainConfig(t, exampletest.Config(t, img), image.DefaultPath)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux/amd64", cf.OS+"/"+cf.Architecture, "platform")
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.NotContains(t, m.Annotations, image.BaseNameAnnotation, "annotations: none names the in-process base (its address changes every run)")

	files := exampletest.Files(t, img)
	wantVersion, err := os.ReadFile(filepath.Join(local.goroot, "VERSION"))
	require.NoError(t, err)
	assert.Equal(t, string(wantVersion), string(files["/usr/local/go/VERSION"].Data), "/usr/local/go/VERSION (%s)", local.version)
	checkMode(t, files, "/usr/local/go/bin/go", 0o755)
	checkMode(t, files, "/usr/local/go/bin/gofmt", 0o755)
	checkMode(t, files, "/workspace", fs.ModeDir|0o755)
	checkMode(t, files, "/tmp", fs.ModeDir|fs.ModeSticky|0o777)
	checkMode(t, files, "/etc/passwd", 0o644)
	assert.True(t, strings.HasPrefix(string(files["/etc/passwd"].Data), "root:x:0:0:"), "/etc/passwd = %q, want a root entry", files["/etc/passwd"].Data)

	// Every file of the Go installation is there.
	n := 0
	err = filepath.WalkDir(local.goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(local.goroot, p)
		if _, ok := files["/usr/local/go/"+filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s is not in the image at /usr/local/go/%s", p, rel)
			return filepath.SkipAll
		}
		return nil
	})
	require.NoError(t, err)
	t.Logf("%d files of %s checked", n, local.goroot)
}

// checkGoInSBOM checks that sbom lists the go command of the local Go
// installation.
func checkGoInSBOM(t *testing.T, sbom *spdx.Document, local *localInstall) {
	t.Helper()
	var goBin *spdx.Package
	for _, p := range sbom.Packages {
		if p.PackageFileName == "/usr/local/go/bin/go" {
			goBin = p
		}
	}
	if assert.NotNil(t, goBin, "the SBOM lists /usr/local/go/bin/go") {
		assert.Equal(t, "cmd/go", goBin.PackageName)
		assert.Contains(t, goBin.PackageComment, local.version, "built with the local Go")
		exe, err := os.ReadFile(filepath.Join(local.goroot, "bin", "go"))
		require.NoError(t, err)
		want := sha256.Sum256(exe)
		require.NotEmpty(t, goBin.PackageChecksums)
		assert.Equal(t, hex.EncodeToString(want[:]), goBin.PackageChecksums[0].Value, "sha256 of the executable")
	}
}

func checkToolchainConfig(t *testing.T, cfg *v1.Config, basePath string) {
	t.Helper()
	want := map[string]string{
		"PATH":        "/usr/local/go/bin:" + basePath,
		"CGO_ENABLED": "0",
		"GOFLAGS":     "-trimpath",
	}
	for k, v := range want {
		got, _ := exampletest.Env(cfg, k)
		assert.Equal(t, v, got, "env %s", k)
	}
	assert.Equal(t, "/workspace", cfg.WorkingDir, "WorkingDir")
}

func checkMode(t *testing.T, files map[string]exampletest.File, name string, want fs.FileMode) {
	t.Helper()
	f, ok := files[name]
	if !assert.True(t, ok, "%s in the image", name) {
		return
	}
	assert.Equal(t, want, exampletest.Mode(f), "mode of %s", name)
	assert.Equal(t, "0:0", fmt.Sprintf("%d:%d", f.Header.Uid, f.Header.Gid), "owner of %s", name)
}

// releases serves a fake Go release tarball and a fake ko release tarball,
// shaped like the real ones.
func releases(t *testing.T) (goURL, goSHA, koURL string, gets func(string) int) {
	goTar, goSHA := exampletest.TarGz(t, map[string]string{
		"go/":          "",
		"go/VERSION":   "go1.99.0\ntime 2025-01-02T03:04:05Z\n",
		"go/bin/go":    "#!/bin/sh\necho go version go1.99.0 fake\n",
		"go/bin/gofmt": "#!/bin/sh\n",
		"stray.txt":    "outside go/: must not be in the image\n",
	})
	koTar, _ := exampletest.TarGz(t, map[string]string{
		"LICENSE":   "Apache-2.0\n",
		"README.md": "# ko\n",
		"ko":        "#!/bin/sh\necho ko fake\n",
	}, "ko")
	base, gets := exampletest.Serve(t, map[string][]byte{
		"/go1.99.0.linux-amd64.tar.gz":   goTar,
		"/ko_0.99.0_Linux_x86_64.tar.gz": koTar,
	})
	return base + "/go1.99.0.linux-amd64.tar.gz", goSHA, base + "/ko_0.99.0_Linux_x86_64.tar.gz", gets
}

// TestPushReleaseTarballs pushes, twice, an image made of downloaded Go and
// ko release tarballs to an in-process registry.
func TestPushReleaseTarballs(t *testing.T) {
	srv := registrytest.New(t)
	goURL, goSHA, koURL, gets := releases(t)
	cache := t.TempDir()
	args := []string{"-target", srv.Ref("team/toolchain:go1.99"), "-go-url", goURL, "-go-sha256", goSHA, "-ko-url", koURL, "-cache", cache, "-v"}

	r1 := exampletest.Run(t, run, args...)
	srv.ResetStats()
	r2 := exampletest.Run(t, run, args...)
	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	assert.Equal(t, srv.Ref("team/toolchain"), r1.Name, "repository printed (%s)", r1.Ref)
	assert.Zero(t, srv.Stats().BlobUploads, "blobs the second push uploaded (the image is unchanged)")
	// -go-sha256 makes the Go tarball cacheable: downloaded once.
	assert.Equal(t, 1, gets("/go1.99.0.linux-amd64.tar.gz"), "downloads of the Go tarball in two runs (cached by its sha256)")
	assert.Contains(t, r1.Stderr, "go: "+goURL, "stderr with -v names the Go tarball")

	img := exampletest.Pull(t, r1.Ref)
	checkToolchainConfig(t, exampletest.Config(t, img), image.DefaultPath)
	files := exampletest.Files(t, img)
	checkMode(t, files, "/usr/local/go/bin/go", 0o755)
	checkMode(t, files, "/usr/local/go/VERSION", 0o644)
	checkMode(t, files, "/usr/local/bin/ko", 0o755)
	checkMode(t, files, "/workspace", fs.ModeDir|0o755)
	for _, name := range []string{"/usr/local/stray.txt", "/stray.txt", "/usr/local/bin/LICENSE", "/usr/local/bin/README.md", "/LICENSE"} {
		_, ok := files[name]
		assert.False(t, ok, "%s is in the image, want only go/... and ko from the tarballs", name)
	}
	assert.Equal(t, "#!/bin/sh\necho ko fake\n", string(files["/usr/local/bin/ko"].Data), "/usr/local/bin/ko")

	// The provenance, pushed as a referrer, names the Go download with
	// the sha256 it was verified against.
	att := exampletest.RegistryAttestations(t, r1.Ref)
	assert.Len(t, att, 2, "artifacts attached to the image")
	prov := string(att[attest.MediaTypeInToto])
	assert.Contains(t, prov, `"downloadLocation":"`+goURL+`"`)
	assert.Contains(t, prov, goSHA, "the Go tarball's sha256")
	assert.Contains(t, prov, `"`+strings.TrimPrefix(r1.Digest, "sha256:")+`"`, "the subject")
}

// TestBaseAndPlatform builds on a base from a registry, for another
// platform, with zstd layers.
func TestBaseAndPlatform(t *testing.T) {
	srv := registrytest.New(t)
	ctx := context.Background()
	baseIdx, err := srv.SeedIndex(ctx, "library/base:1", "linux/amd64", "linux/arm64")
	require.NoError(t, err)
	goURL, goSHA, _, _ := releases(t)
	out := filepath.Join(t.TempDir(), "tc.oci.tar")
	r := exampletest.Run(t, run, "-base", srv.Ref("library/base:1"), "-platform", "linux/arm64",
		"-compression", "zstd", "-go-url", goURL, "-go-sha256", goSHA, "-o", out, "-cache", "")
	img := exampletest.OpenTarball(t, out, "latest", r.Digest)

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux/arm64", cf.OS+"/"+cf.Architecture, "platform")
	checkToolchainConfig(t, &cf.Config, image.DefaultPath)
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, srv.Ref("library/base:1"), m.Annotations[image.BaseNameAnnotation], "annotation %s", image.BaseNameAnnotation)
	idxm, err := baseIdx.IndexManifest()
	require.NoError(t, err)
	var baseDigest string
	for _, d := range idxm.Manifests {
		if d.Platform != nil && d.Platform.Architecture == "arm64" {
			baseDigest = d.Digest.String()
		}
	}
	require.NotEmpty(t, baseDigest, "the base's arm64 image")
	assert.Equal(t, baseDigest, m.Annotations[image.BaseDigestAnnotation], "annotation %s (the arm64 base's)", image.BaseDigestAnnotation)
	assert.Equal(t, types.OCILayerZStd, m.Layers[len(m.Layers)-1].MediaType, "Go layer media type")
}

func TestErrors(t *testing.T) {
	goURL, goSHA, _, _ := releases(t)
	wrongSHA := strings.Repeat("0", 64)
	out := filepath.Join(t.TempDir(), "x.oci.tar")
	// The errors that must also wrap a sentinel, by case.
	wraps := map[string]error{"wrong sha": layer.ErrDigestMismatch, "missing tarball": layer.ErrHTTPStatus}
	exampletest.RunFailures(t, run, []exampletest.Failure{
		{Name: "bad compression", Args: []string{"-compression", "xz"}, Substr: `-compression "xz": want gzip, zstd, estargz or zstd:chunked`},
		{Name: "target and o", Args: []string{"-target", "example.com/a:b", "-o", out}, Substr: "-target and -o"},
		{Name: "sha without url", Args: []string{"-go-sha256", goSHA}, Substr: "give -go-url too"},
		{Name: "bad platform", Args: []string{"-platform", "amd64"}, Substr: "-platform"},
		{Name: "foreign platform needs url", Args: []string{"-platform", "linux/s390x", "-o", out, "-cache", ""}, Substr: "give -go-url"},
		{Name: "positional", Args: []string{"extra"}, Substr: `unexpected argument "extra"`},
		{Name: "wrong sha", Args: []string{"-go-url", goURL, "-go-sha256", wrongSHA, "-o", out, "-cache", ""}, Substr: goURL},
		{Name: "missing tarball", Args: []string{"-go-url", goURL + ".missing", "-o", out, "-cache", ""}, Substr: "404"},
		{Name: "unknown flag", Args: []string{"-nope"}, Substr: "flag provided but not defined"},
	}, func(t *testing.T, f exampletest.Failure, err error) {
		if is := wraps[f.Name]; is != nil {
			assert.ErrorIs(t, err, is, "run(%q)", f.Args)
		}
		_, err = os.Stat(out)
		assert.ErrorIs(t, err, fs.ErrNotExist, "after a failed run, %s", out)
	})
}

// TestLocalTarball takes the Go release from a local file and a file://
// URL.
func TestLocalTarball(t *testing.T) {
	goTar, goSHA := exampletest.TarGz(t, map[string]string{
		"go/VERSION": "go1.99.0\n",
		"go/bin/go":  "#!/bin/sh\n",
	})
	file := filepath.Join(t.TempDir(), "go1.99.0.linux-amd64.tar.gz")
	require.NoError(t, os.WriteFile(file, goTar, 0o644))
	var digests []string
	for _, src := range []string{file, "file://" + file} {
		out := filepath.Join(t.TempDir(), "tc.oci.tar")
		r := exampletest.Run(t, run, "-go-url", src, "-go-sha256", goSHA, "-o", out, "-cache", "")
		files := exampletest.Files(t, exampletest.OpenTarball(t, out, "latest", r.Digest))
		checkMode(t, files, "/usr/local/go/bin/go", 0o755)
		digests = append(digests, r.Digest)
	}
	assert.Equal(t, digests[0], digests[1], "digests of a path and of its file:// URL")
}

// TestLazyCompression builds the image with -compression estargz and
// zstd:chunked: the Go and ko layers are of that format (checked with the
// estargz library against their descriptors' annotations), with go and ko
// first, before the prefetch landmark; the other layers stay gzip.
func TestLazyCompression(t *testing.T) {
	goURL, goSHA, koURL, _ := releases(t)
	for _, tc := range []struct {
		flag string
		mt   types.MediaType
	}{
		{"estargz", types.OCILayer},
		{"zstd:chunked", types.OCILayerZStd},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tc.oci.tar")
			r := exampletest.Run(t, run, "-compression", tc.flag, "-go-url", goURL, "-go-sha256", goSHA, "-ko-url", koURL, "-o", out, "-cache", "")
			img := exampletest.OpenTarball(t, out, "latest", r.Digest)
			m, err := img.Manifest()
			require.NoError(t, err)
			ls, err := img.Layers()
			require.NoError(t, err)
			n := len(m.Layers)
			require.GreaterOrEqual(t, n, 4)
			for i, first := range map[int][]string{
				n - 2: {"usr", "usr/local", "usr/local/go", "usr/local/go/bin", "usr/local/go/bin/go", lazypull.PrefetchLandmark},
				n - 1: {"usr", "usr/local", "usr/local/bin", "usr/local/bin/ko", lazypull.PrefetchLandmark},
			} {
				assert.Equal(t, tc.mt, m.Layers[i].MediaType, "media type of layer %d", i)
				var names []string
				for _, e := range lazypulltest.VerifyLayer(t, ls[i], m.Layers[i].Annotations) {
					names = append(names, e.Name)
				}
				require.GreaterOrEqual(t, len(names), len(first))
				assert.Equal(t, first, names[:len(first)], "first entries of layer %d", i)
			}
			// The layers: the base's, the working directory's (gzip), Go's, ko's.
			assert.Equal(t, types.OCILayer, m.Layers[n-3].MediaType, "media type of the working directory's layer")
			assert.Empty(t, m.Layers[n-3].Annotations, "annotations of the working directory's layer")
		})
	}
}
