package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
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
