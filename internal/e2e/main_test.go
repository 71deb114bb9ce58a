package e2e

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points DOCKER_CONFIG at an empty directory (no credentials of
// the machine are used), runs the crash test's child when asked to, and
// removes the toybox build directory.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	if os.Getenv(spoolChildEnv) != "" {
		os.Exit(spoolChild())
	}
	dir, err := os.MkdirTemp("", "e2e-docker-config-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if toyboxDir != "" {
		os.RemoveAll(toyboxDir)
	}
	os.Exit(code)
}
