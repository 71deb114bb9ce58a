package main

import (
	"bytes"
	"context"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestDefault packs the carried hello-world with no flags: one
// linux/amd64 image (scratch's default platform), twice, the second
// build taking the binary's layer from the cache.
func TestDefault(t *testing.T) {
	dir, cache := t.TempDir(), t.TempDir()
	out1, out2 := filepath.Join(dir, "1.oci.tar"), filepath.Join(dir, "2.oci.tar")
	r1 := exampletest.Run(t, run, "-o", out1, "-cache", cache)
	before := exampletest.CacheBlobs(t, cache)
	r2 := exampletest.Run(t, run, "-o", out2, "-cache", cache)
	after := exampletest.CacheBlobs(t, cache)

	require.Equal(t, r1.Digest, r2.Digest, "digests of two runs")
	// A cache miss writes the layer to a new file renamed over the blob
	// (a new inode) or adds a blob: the same files mean the second run
	// reused the cached layer.
	assert.Len(t, before, 1, "layer cache blobs after the first build (one platform)")
	assert.Equal(t, before, after, "layer cache blobs (by inode) after the second build")
	assert.Contains(t, r1.Stderr, "image linux/amd64: ", "stderr: the image's size")

	img := exampletest.OpenTarball(t, out1, "latest", r1.Digest)
	cfg := exampletest.Config(t, img)
	checkConfig(t, cfg, "/app/hello", "65532")
	bin := checkBinary(t, exampletest.FilesLimit(t, img, 64<<20), "/app/hello", elf.EM_X86_64)
	if runtime.GOARCH == "amd64" && runtime.GOOS == "linux" {
		out := runBinary(t, bin)
		assert.True(t, strings.HasPrefix(out, "hello from a stevedore image (linux/amd64"), "running /app/hello printed %q", out)
	}

	// -sbom is on by default: the tarball holds the image's SBOM and
	// provenance; the SBOM lists the program's module and Go version.
	att := exampletest.TarballAttestations(t, out1, r1.Digest)
	assert.Len(t, att, 2, "artifacts attached to the image")
	pkgs := att.Packages(t)
	assert.Contains(t, pkgs, "hello", "the program's main module")
	assert.Equal(t, strings.TrimPrefix(runtime.Version(), "go"), strings.TrimPrefix(pkgs["stdlib"], "go"), "the Go version")
	assert.Contains(t, string(att[attest.MediaTypeInToto]), `"entrypoint"`, "the provenance's parameters")

	out3 := filepath.Join(dir, "3.oci.tar")
	r3 := exampletest.Run(t, run, "-o", out3, "-cache", cache, "-sbom=false")
	assert.Equal(t, r1.Digest, r3.Digest, "the image is the same without -sbom")
	assert.Empty(t, exampletest.TarballAttestations(t, out3, r3.Digest), "artifacts with -sbom=false")
}

// TestTwoPlatforms packs the hello-world for linux/amd64 and linux/arm64
// from scratch: an index.
func TestTwoPlatforms(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.oci.tar")
	r := exampletest.Run(t, run, "-o", out, "-platforms", "linux/amd64,linux/arm64", "-cache", t.TempDir())
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		assert.Contains(t, r.Stderr, "image "+p+": ", "stderr: the size of the %s image", p)
	}
	idx := exampletest.OpenIndexTarball(t, out, "latest", r.Digest)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	require.Len(t, im.Manifests, 2)
	for i, d := range im.Manifests {
		want := []string{"amd64", "arm64"}[i]
		require.NotNil(t, d.Platform, "manifest %d platform", i)
		assert.Equal(t, "linux/"+want, d.Platform.String(), "manifest %d platform", i)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		checkConfig(t, exampletest.Config(t, img), "/app/hello", "65532")
		bin := checkBinary(t, exampletest.FilesLimit(t, img, 64<<20), "/app/hello", machines[want])
		if want == runtime.GOARCH && runtime.GOOS == "linux" {
			out := runBinary(t, bin)
			assert.True(t, strings.HasPrefix(out, "hello from a stevedore image (linux/"+want), "running /app/hello printed %q", out)
		}
	}
}

// TestSingleImageBase: a base that is one image, not an index, with the
// default platforms: an image on the base's platform.
func TestSingleImageBase(t *testing.T) {
	srv := registrytest.New(t)
	base, err := srv.SeedImage(context.Background(), "base:single")
	require.NoError(t, err)
	cf, err := base.ConfigFile()
	require.NoError(t, err)
	r := exampletest.Run(t, run, "-base", srv.Ref("base:single"), "-target", srv.Ref("hello:single"), "-cache", t.TempDir())
	img := exampletest.Pull(t, r.Ref)
	got, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, cf.Platform().String(), got.Platform().String(), "platform: the base's")
	checkConfig(t, &got.Config, "/app/hello", "65532")
}

// TestMissingPlatform: a platform the base index lacks is an error that
// lists what it has, given before anything is compiled.
func TestMissingPlatform(t *testing.T) {
	srv := registrytest.New(t)
	_, err := srv.SeedIndex(context.Background(), "base:multi", "linux/amd64", "linux/s390x")
	require.NoError(t, err)
	r, err := exampletest.RunErr(t, run, "-base", srv.Ref("base:multi"), "-platforms", "linux/arm64", "-target", srv.Ref("x:y"), "-v")
	require.Error(t, err, "stdout %q", r.Stdout)
	assert.Contains(t, err.Error(), "linux/arm64 not in base index (it has linux/amd64, linux/s390x)")
	assert.NotContains(t, r.Stderr, "go build", "compiled before the base was checked")
}

func checkConfig(t *testing.T, cfg *v1.Config, entrypoint, user string) {
	t.Helper()
	assert.Equal(t, []string{entrypoint}, cfg.Entrypoint, "Entrypoint")
	assert.Equal(t, user, cfg.User, "User")
}

// checkBinary checks that name is an executable static ELF binary for
// machine and returns its bytes.
func checkBinary(t *testing.T, files map[string]exampletest.File, name string, machine elf.Machine) []byte {
	t.Helper()
	f, ok := files[name]
	require.True(t, ok, "%s in the image", name)
	assert.Equal(t, fs.FileMode(0o755), exampletest.Mode(f), "mode of %s", name)
	e, err := elf.NewFile(bytes.NewReader(f.Data))
	require.NoError(t, err, "%s is not an ELF binary", name)
	assert.Equal(t, machine, e.Machine, "machine of %s", name)
	for _, p := range e.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "%s has an ELF interpreter: not a static binary (CGO_ENABLED=0 missing?)", name)
	}
	return f.Data
}

// checkOnBase checks that img has the layers of base and one more, the
// binary's, which holds the static binary name for machine and nothing
// else but directories.
func checkOnBase(t *testing.T, img, base v1.Image, name string, machine elf.Machine) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	baseLayers, err := base.Layers()
	require.NoError(t, err)
	require.Len(t, layers, len(baseLayers)+1, "layers: the base's and the binary's")
	for i, l := range baseLayers {
		want, err := l.Digest()
		require.NoError(t, err)
		got, err := layers[i].Digest()
		require.NoError(t, err)
		assert.Equal(t, want, got, "layer %d: the base's", i)
	}
	files := exampletest.LayerFilesLimit(t, layers[len(layers)-1], 64<<20)
	checkBinary(t, files, name, machine)
	for n, f := range files {
		if n != name {
			assert.True(t, exampletest.Mode(f).IsDir(), "the binary's layer holds %s too", n)
		}
	}
}

func runBinary(t *testing.T, bin []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bin")
	require.NoError(t, os.WriteFile(p, bin, 0o755))
	out, err := exec.Command(p).Output()
	require.NoError(t, err, "running the binary from the image")
	return string(out)
}

// writeModule writes a module of files (path -> content) in a temp dir.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// TestPackageOnBase packs a main package of another module for one
// platform on a base from a registry, and pushes it.
func TestPackageOnBase(t *testing.T) {
	srv := registrytest.New(t)
	base, err := srv.SeedImage(context.Background(), "base:1")
	require.NoError(t, err)
	mod := writeModule(t, map[string]string{
		"go.mod":     "module example.com/greeter/v2\n\ngo 1.22\n",
		"main.go":    "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"greetings\") }\n",
		"lib/lib.go": "package lib\n",
	})
	t.Chdir(mod)
	args := []string{"-pkg", ".", "-platforms", "linux/amd64", "-base", srv.Ref("base:1"),
		"-user", "1000:1000", "-target", srv.Ref("greeter:v2"), "-cache", t.TempDir()}
	r1 := exampletest.Run(t, run, args...)
	r2 := exampletest.Run(t, run, args...)
	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	img := exampletest.Pull(t, r1.Ref)
	checkConfig(t, exampletest.Config(t, img), "/app/greeter", "1000:1000")
	checkOnBase(t, img, base, "/app/greeter", elf.EM_X86_64)
}

// TestIndexOnBase packs the hello-world for two platforms on a base index.
func TestIndexOnBase(t *testing.T) {
	srv := registrytest.New(t)
	base, err := srv.SeedIndex(context.Background(), "base:multi", "linux/amd64", "linux/arm64/v8", "linux/s390x")
	require.NoError(t, err)
	baseManifest, err := base.IndexManifest()
	require.NoError(t, err)
	r := exampletest.Run(t, run, "-base", srv.Ref("base:multi"), "-platforms", "linux/amd64,linux/arm64", "-target", srv.Ref("hello:multi"), "-cache", t.TempDir())
	idx, err := registry.PullIndex(context.Background(), r.Ref)
	require.NoError(t, err)
	require.NoError(t, validate.Index(idx), "validate.Index")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2, "index manifests (amd64 and arm64; not the base's s390x)")
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		var baseImg v1.Image
		for _, bd := range baseManifest.Manifests {
			if bd.Platform.Architecture == d.Platform.Architecture {
				baseImg, err = base.Image(bd.Digest)
				require.NoError(t, err)
			}
		}
		require.NotNil(t, baseImg, "the base's %s image", d.Platform)
		checkOnBase(t, img, baseImg, "/app/hello", machines[d.Platform.Architecture])

		// Each platform's image has its SBOM and provenance, pushed as
		// its referrers.
		att := exampletest.RegistryAttestations(t, r.Name+"@"+d.Digest.String())
		assert.Len(t, att, 2, "artifacts attached to the %s image", d.Platform)
		assert.Contains(t, att.Packages(t), "hello", "the %s image's SBOM lists the program", d.Platform)
		assert.Contains(t, string(att[attest.MediaTypeInToto]), `"platform":"`+d.Platform.String()+`"`, "the provenance's platform")
	}
}

func TestErrors(t *testing.T) {
	mod := writeModule(t, map[string]string{
		"go.mod":      "module example.com/broken\n\ngo 1.22\n",
		"lib/lib.go":  "package lib\n",
		"bad/main.go": "package main\n\nfunc main() { undefinedThing() }\n",
	})
	t.Chdir(mod)
	out := filepath.Join(t.TempDir(), "x.oci.tar")
	exampletest.RunFailures(t, run, []exampletest.Failure{
		{Name: "library package", Args: []string{"-pkg", "./lib", "-o", out}, Substr: "not a main package"},
		{Name: "compile error", Args: []string{"-pkg", "./bad", "-platforms", "linux/amd64", "-o", out, "-cache", ""}, Substr: "undefined: undefinedThing"},
		{Name: "missing package", Args: []string{"-pkg", "./nope", "-o", out}, Substr: "go list ./nope"},
		{Name: "bad platform", Args: []string{"-platforms", "linux/amd64,arm64"}, Substr: `"arm64" is not os/arch`},
		{Name: "platform twice", Args: []string{"-platforms", "linux/amd64,linux/amd64"}, Substr: "listed twice"},
		{Name: "target and o", Args: []string{"-target", "example.com/a:b", "-o", out}, Substr: "-target and -o"},
	}, func(t *testing.T, _ exampletest.Failure, _ error) {
		_, statErr := os.Stat(out)
		assert.Error(t, statErr, "after a failed run, %s exists, want no output file", out)
	})
}

// TestCancelLeavesNoTemp cancels a run while go build compiles (a cold
// build cache makes it last): nothing is left in the temp dir, not even
// the work directory of the go command, which it leaves when killed.
func TestCancelLeavesNoTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("GOTMPDIR", "")
	t.Setenv("GOCACHE", t.TempDir())
	goWork := func() bool { // go build's work directory exists somewhere under tmp
		found := false
		_ = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "go-build") {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		return found
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		errc <- run(ctx, []string{"-cache", "", "-o", filepath.Join(t.TempDir(), "x.oci.tar")}, &stdout, &stderr)
	}()
	require.Eventually(t, goWork, time.Minute, 5*time.Millisecond, "go build made its work directory under TMPDIR")
	cancel()
	require.Error(t, <-errc, "run cancelled during go build")
	assert.Empty(t, itest.DirNames(t, tmp), "run(cancelled): left in TMPDIR")
}
