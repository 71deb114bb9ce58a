package registry

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points DOCKER_CONFIG at an empty directory, so no credentials
// of the machine running the tests are used (or could leak into output).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "registry-test-docker-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
