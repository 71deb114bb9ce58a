package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestDefault runs with no flags but the outputs: the generated demo.
func TestDefault(t *testing.T) {
	dir := t.TempDir()
	r1 := exampletest.Run(t, run, "-o", filepath.Join(dir, "1.tar"), "-cache", "")
	r2 := exampletest.Run(t, run, "-o", filepath.Join(dir, "2.tar"), "-cache", "")
	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	img := exampletest.OpenTarball(t, r1.Name, "latest", r1.Digest)
	files := exampletest.Files(t, img)
	assert.Equal(t, demo["services/api/dist/api"], string(files["/app/dist/api"].Data), "/app/dist/api (the demo's)")
	assert.NotContains(t, files, "/app/debug.log", "files in the image (the demo's .dockerignore excludes *.log)")
}

func TestErrors(t *testing.T) {
	repo := t.TempDir()
	require.NoError(t, writeDemo(repo))
	out := filepath.Join(t.TempDir(), "x.tar")
	linked := filepath.Join(repo, "services", "linked")
	require.NoError(t, os.MkdirAll(linked, 0o755))
	require.NoError(t, os.Symlink("../api/.dockerignore", filepath.Join(linked, ".dockerignore")))
	exampletest.RunFailures(t, run, []exampletest.Failure{
		{Name: "no service", Args: []string{"-repo", repo}, Substr: "-service is required"},
		{Name: "missing service", Args: []string{"-repo", repo, "-service", "billing", "-o", out}, Substr: "services/billing is not a directory"},
		{Name: "symlinked .dockerignore", Args: []string{"-repo", repo, "-service", "linked", "-o", out}, Substr: ".dockerignore is not a regular file"},
		{Name: "path as service", Args: []string{"-repo", repo, "-service", "../libs"}, Substr: "want the name of one directory"},
		{Name: "target and o", Args: []string{"-repo", repo, "-service", "api", "-target", "example.com/a:b", "-o", out}, Substr: "-target and -o"},
	}, nil)
}

// TestVerboseNamesTheImageLayer runs with -v on a base whose /app is
// 0700, which the service's layer keeps when it is placed on the base:
// the digest -v prints is that of the layer in the image.
func TestVerboseNamesTheImageLayer(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o700}))
	require.NoError(t, tw.Close())
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	require.NoError(t, err)
	base, err := mutate.AppendLayers(empty.Image, l)
	require.NoError(t, err)
	srv := registrytest.New(t)
	ref, err := name.ParseReference(srv.Ref("base:v1"))
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, base))

	out := filepath.Join(t.TempDir(), "x.tar")
	r := exampletest.Run(t, run, "-base", ref.String(), "-o", out, "-cache", "", "-v")
	layers, err := exampletest.OpenTarball(t, r.Name, "latest", r.Digest).Layers()
	require.NoError(t, err)
	require.Len(t, layers, 2, "layers of the image: the base's and the service's")
	want, err := layers[1].Digest()
	require.NoError(t, err)
	assert.Contains(t, r.Stderr, "layer "+want.String()+" from ", "run(-v) stderr: the service layer's digest, as the image has it")
}
