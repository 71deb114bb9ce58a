package exampletest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// DockerConfig writes a docker config.json, as `docker login` writes it,
// that gives user and password for host, into a temporary directory, and
// points DOCKER_CONFIG at that directory for the rest of the test.
func DockerConfig(t testing.TB, host, user, password string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))},
	}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600))
	t.Setenv("DOCKER_CONFIG", dir)
}
