package itest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// packageOf maps each tool to the Debian package that provides it.
var packageOf = map[string]string{
	"skopeo":          "skopeo",
	"umoci":           "umoci",
	"runc":            "runc",
	"docker-registry": "docker-registry",
	"go":              "golang (or https://go.dev/dl)",
	"git":             "git",
	"tar":             "tar",
	"buildah":         "buildah",
}

// InCI reports whether the tests run in CI, where CI is set to a true value.
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Require returns the paths of the named tools, in order. When one is not on
// PATH it skips the test with a message naming the Debian package to install,
// or, in CI, fails the test: CI installs every tool, so a missing one there is
// a broken setup, not a reason to skip.
func Require(t testing.TB, tools ...string) []string {
	t.Helper()
	paths := make([]string, len(tools))
	for i, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			pkg := packageOf[tool]
			if pkg == "" {
				pkg = tool
			}
			msg := tool + " not found on PATH (Debian package " + pkg + "; .ci/run installs it)"
			if InCI() {
				t.Fatalf("integration test needs %s, and CI=true forbids skipping", msg)
			}
			t.Skip("skipping integration test: " + msg)
		}
		paths[i] = p
	}
	return paths
}

// Run runs a command with a timeout of two minutes and returns its standard
// output. It fails the test with the command line, both output streams and
// the exit status when the command fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s", err)
	}
	return out
}

// RunErr is [Run] that returns the failure instead of failing the test. The
// error text holds the command line, the exit status and both streams.
func RunErr(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	return RunEnvErr(t, nil, name, args...)
}

// RunEnvErr is [RunErr] with the environment env (nil: this process's).
func RunEnvErr(t testing.TB, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &CommandError{
			Args:   append([]string{name}, args...),
			Err:    err,
			Stdout: stdout.String(),
			Stderr: stderr.String(),
		}
	}
	return stdout.String(), nil
}

// CommandError describes a tool that exited with a failure.
type CommandError struct {
	Args           []string
	Err            error
	Stdout, Stderr string
}

func (e *CommandError) Error() string {
	return strings.Join(e.Args, " ") + ": " + e.Err.Error() +
		"\nstdout:\n" + e.Stdout + "\nstderr:\n" + e.Stderr
}

func (e *CommandError) Unwrap() error { return e.Err }
