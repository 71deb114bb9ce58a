package registry

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points DOCKER_CONFIG and the podman auth file locations at an
// empty directory, so no credentials of the machine running the tests are
// used (or could leak into output).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "registry-test-docker-config")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("DOCKER_CONFIG", dir)
	os.Setenv("XDG_RUNTIME_DIR", dir)
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Unsetenv("REGISTRY_AUTH_FILE")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
