package main

import (
	"context"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// demoTarball writes the demo image to a tarball and returns its path and
// digest.
func demoTarball(t *testing.T) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.oci.tar")
	require.NoError(t, writeDemoImage(context.Background(), p))
	l, err := image.ReadOCITarball(p)
	require.NoError(t, err)
	defer l.Close()
	img, err := l.Image("")
	require.NoError(t, err)
	h, err := img.Digest()
	require.NoError(t, err)
	return p, h.String()
}

// TestDefault runs with no flags: the demo image, pushed to an in-process
// registry with generated credentials, twice.
func TestDefault(t *testing.T) {
	_, want := demoTarball(t)
	r1 := exampletest.Run(t, runWith(strings.NewReader("")))
	r2 := exampletest.Run(t, runWith(strings.NewReader("")))
	assert.Equal(t, want, r1.Digest, "first push: the demo image")
	assert.Equal(t, want, r2.Digest, "second push: the demo image")
	assert.True(t, strings.HasSuffix(r1.Name, "/demo/hello"), "printed %s, want REGISTRY/demo/hello@sha256:...", r1.Ref)
	// stderr is not a terminal here: plain progress lines.
	for _, s := range []string{"uploaded", "manifest pushed " + want} {
		assert.Contains(t, r1.Stderr, s, "stderr")
	}
}

// TestUsage checks the placeholders -h shows: the flag package takes the
// first back-quoted word of a usage as the argument's name.
func TestUsage(t *testing.T) {
	var stderr strings.Builder
	_, err := parseFlags([]string{"-h"}, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp, "parseFlags(-h)")
	for _, want := range []string{"\n  -image FILE\n", "\n  -name NAME\n", "\n  -target REF\n", "\n  -username USER\n"} {
		assert.Contains(t, stderr.String(), want, "parseFlags(-h) usage")
	}
}

// TestPasswordStdin pushes a tarball with -username and -password-stdin,
// twice: the second push sends no blob.
func TestPasswordStdin(t *testing.T) {
	const user, pass = "ci", "s3cr3t-Passw0rd"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	file, want := demoTarball(t)
	args := []string{"-image", file, "-target", srv.Ref("team/app:v1"), "-username", user, "-password-stdin"}
	r1 := exampletest.Run(t, runWith(strings.NewReader(pass+"\n")), args...)
	srv.ResetStats()
	r2 := exampletest.Run(t, runWith(strings.NewReader(pass+"\n")), args...)
	require.Equal(t, want, r1.Digest, "first push: the tarball's image")
	require.Equal(t, want, r2.Digest, "second push: the tarball's image")
	assert.Zero(t, srv.Stats().BlobUploads, "second push: blobs uploaded")
	assert.Regexp(t, "skipped|exists", r2.Stderr, "second push stderr: the blobs reported as already there")
	assert.NotContains(t, r1.Stdout+r1.Stderr, pass, "the output shows the password")
	exampletest.Pull(t, r1.Ref, registry.WithBasicAuth(user, pass))
}

// TestDockerConfig pushes with the credentials of a docker config.json.
func TestDockerConfig(t *testing.T) {
	const user, pass = "robot", "from-config-json"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	exampletest.DockerConfig(t, srv.Host, user, pass)
	file, want := demoTarball(t)
	r := exampletest.Run(t, runWith(strings.NewReader("")), "-image", file, "-target", srv.Ref("team/app:v1"))
	assert.Equal(t, want, r.Digest, "pushed")
}

// TestLayoutIndex pushes an index picked by name out of an OCI layout
// holding two entries.
func TestLayoutIndex(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.New(t)
	layout := filepath.Join(t.TempDir(), "layout")
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"), image.WithCmd("/app"))
	require.NoError(t, err)
	img, err := image.Build(ctx, nil, image.WithCmd("/other"))
	require.NoError(t, err)
	require.NoError(t, image.WriteOCILayout(ctx, layout, idx, image.WithRefName("multi")))
	require.NoError(t, image.WriteOCILayout(ctx, layout, img, image.WithRefName("single")))
	want, err := idx.Digest()
	require.NoError(t, err)

	r := exampletest.Run(t, runWith(nil), "-image", layout, "-name", "multi", "-target", srv.Ref("team/multi:v1"))
	assert.Equal(t, want.String(), r.Digest, "pushed: the index")
	got, err := registry.PullIndex(ctx, r.Ref)
	require.NoError(t, err)
	assert.NoError(t, validate.Index(got), "validate.Index")

	_, err = exampletest.RunErr(t, runWith(nil), "-image", layout, "-target", srv.Ref("team/multi:v2"))
	require.ErrorIs(t, err, image.ErrAmbiguous, "push of a two-entry layout without -name")
	assert.ErrorContains(t, err, "-name", "push of a two-entry layout without -name")
}

func TestErrors(t *testing.T) {
	const user, pass = "ci", "right-password"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	file, _ := demoTarball(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := l.Addr().String()
	l.Close()
	t.Setenv("DOCKER_CONFIG", t.TempDir())

	tests := []struct {
		name   string
		args   []string
		stdin  string
		is     error
		substr string
	}{
		{"wrong password", []string{"-image", file, "-target", srv.Ref("a/b:c"), "-username", user, "-password-stdin"}, "wrong-password\n", registry.ErrUnauthorized, "refused"},
		{"no credentials", []string{"-image", file, "-target", srv.Ref("a/b:c")}, "", registry.ErrUnauthorized, "docker config"},
		{"network down", []string{"-image", file, "-target", down + "/a/b:c"}, "", nil, "connection refused"},
		{"no such image", []string{"-image", file + ".missing", "-target", srv.Ref("a/b:c")}, "", os.ErrNotExist, "-image"},
		{"not an image", []string{"-image", "main.go", "-target", srv.Ref("a/b:c")}, "", nil, "-image main.go"},
		{"image without target", []string{"-image", file}, "", nil, "-target is required"},
		{"username without stdin", []string{"-image", file, "-target", "x/y:z", "-username", "u"}, "", nil, "-username needs -password-stdin"},
		{"stdin without username", []string{"-password-stdin"}, "pw", nil, "-password-stdin needs -username"},
		{"empty password", []string{"-image", file, "-target", "x/y:z", "-username", "u", "-password-stdin"}, "\n", nil, "stdin is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := exampletest.RunErr(t, runWith(strings.NewReader(tt.stdin)), tt.args...)
			require.Error(t, err, "run(%q); stdout %q", tt.args, r.Stdout)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is, "run(%q)", tt.args)
			}
			assert.ErrorContains(t, err, tt.substr, "run(%q)", tt.args)
			assert.NotContains(t, err.Error(), "wrong-password", "run(%q): the error shows a password", tt.args)
			assert.NotContains(t, err.Error(), pass, "run(%q): the error shows a password", tt.args)
		})
	}
}

// TestPushesReferrers: a tarball as goapp and toolchain write it (the
// image, and beside it the index of its SBOM and provenance, named
// sha256-<hex>) is pushed without -name, and its referrers with it; so
// is a multi-platform one, whose referrers are those of its images.
func TestPushesReferrers(t *testing.T) {
	srv := registrytest.New(t)
	ctx := t.Context()
	img, err := image.Build(ctx, nil, image.WithEnv("A", "1"))
	require.NoError(t, err)
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"), image.WithEnv("A", "1"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		a    image.Artifact
	}{{"image", img}, {"index", idx}} {
		t.Run(tc.name, func(t *testing.T) {
			arts, err := attest.Of(ctx, tc.a, attest.Options{Name: "example.com/app"})
			require.NoError(t, err)
			entries, err := attest.OCIEntries(arts...)
			require.NoError(t, err)
			out := filepath.Join(t.TempDir(), "with-sbom.oci.tar")
			require.NoError(t, image.WriteOCITarball(ctx, out, tc.a, append(entries, image.WithRefName("latest"))...))

			r := exampletest.Run(t, runWith(strings.NewReader("")), "-image", out, "-target", srv.Ref("team/"+tc.name+":v1"))
			want, err := tc.a.Digest()
			require.NoError(t, err)
			assert.Equal(t, want.String(), r.Digest, "the pushed artifact is the tarball's main entry")
			assert.Contains(t, r.Stderr, "pushed "+strconv.Itoa(len(arts))+" referrers", "stderr")
			for _, art := range arts {
				m, err := art.Manifest()
				require.NoError(t, err)
				require.NotNil(t, m.Subject)
				att := exampletest.RegistryAttestations(t, r.Name+"@"+m.Subject.Digest.String())
				assert.Len(t, att, 2, "the referrers of %s in the registry", m.Subject.Digest)
			}
		})
	}
}
