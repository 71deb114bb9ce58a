package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
)

// TestDefault runs with no flags but the outputs: the generated demo.
func TestDefault(t *testing.T) {
	dir := t.TempDir()
	r1 := exampletest.Run(t, run, "-o", filepath.Join(dir, "1.tar"), "-cache", "")
	r2 := exampletest.Run(t, run, "-o", filepath.Join(dir, "2.tar"), "-cache", "")
	if r1.Digest != r2.Digest {
		t.Fatalf("run twice: digests %s and %s, want the same", r1.Digest, r2.Digest)
	}
	img := exampletest.OpenTarball(t, r1.Name, "latest", r1.Digest)
	files := exampletest.Files(t, img)
	if got := string(files["/app/dist/api"].Data); got != demo["services/api/dist/api"] {
		t.Errorf("/app/dist/api = %q, want the demo's", got)
	}
	if _, ok := files["/app/debug.log"]; ok {
		t.Error("/app/debug.log is in the image; the demo's .dockerignore excludes *.log")
	}
}

func TestErrors(t *testing.T) {
	repo := t.TempDir()
	if err := writeDemo(repo); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "x.tar")
	linked := filepath.Join(repo, "services", "linked")
	if err := os.MkdirAll(linked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../api/.dockerignore", filepath.Join(linked, ".dockerignore")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		substr string
	}{
		{"no service", []string{"-repo", repo}, "-service is required"},
		{"missing service", []string{"-repo", repo, "-service", "billing", "-o", out}, "services/billing is not a directory"},
		{"symlinked .dockerignore", []string{"-repo", repo, "-service", "linked", "-o", out}, ".dockerignore is not a regular file"},
		{"path as service", []string{"-repo", repo, "-service", "../libs"}, "want the name of one directory"},
		{"target and o", []string{"-repo", repo, "-service", "api", "-target", "example.com/a:b", "-o", out}, "-target and -o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := exampletest.RunErr(t, run, tt.args...)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error; stdout %q", tt.args, r.Stdout)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("run(%q) = %v, want it to mention %q", tt.args, err, tt.substr)
			}
		})
	}
}
