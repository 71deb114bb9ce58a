// Package gobintest builds small Go programs for tests that need a real Go
// executable, offline.
package gobintest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The module the programs depend on, from this module's go.sum (so it is
// in the module cache of anyone who can build this module).
const (
	DepPath = "github.com/google/go-cmp"
	DepVers = "v0.7.0"
	DepSum  = "h1:wk8382ETsv4JYUZwIsn6YpYiWiBsYLSJiTsyBybVuN8="
	depMod  = "h1:pXiqmnSA92OHEEa9HXL2W4E7lf9JzCmGVUdgjX3N/iU="
	// MainPath is the programs' module path.
	MainPath = "example.com/hello"
)

// Build builds a tiny program of module [MainPath] that uses [DepPath],
// with env added to the go command's environment and args after
// "go build", and returns the executable's path. It needs no network
// (GOPROXY=off: the dependency comes from the module cache), and skips the
// test when the build fails (for example without a C compiler for
// external linking).
func Build(t testing.TB, env []string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module " + MainPath + "\n\ngo 1.22\n\nrequire " + DepPath + " " + DepVers + "\n",
		"go.sum": DepPath + " " + DepVers + " " + DepSum + "\n" + DepPath + " " + DepVers + "/go.mod " + depMod + "\n",
		"main.go": "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\n\t\"github.com/google/go-cmp/cmp\"\n)\n\n" +
			"func main() { fmt.Println(cmp.Diff(os.Args[0], \"x\")) }\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("go build %v %v: %v\n%s", env, args, err, b)
	}
	return out
}
