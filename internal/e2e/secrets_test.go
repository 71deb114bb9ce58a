package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestExamplePushKeepsSecrets runs the examples/push program (built from
// source) through every way an authenticated push fails — a wrong
// password or token from stdin against basic and token auth, the same
// from the docker config, a registry whose TLS certificate does not
// verify, a repository the credentials may not push to — and asserts that
// neither the password nor the token appears in anything it prints
// (stdout, stderr with its progress lines), and that it fails with a
// one-line error naming the registry. registry/auth_test.go covers the
// library's own errors; this covers a program's whole output.
func TestExamplePushKeepsSecrets(t *testing.T) {
	bin := buildExample(t, "push")
	const (
		user       = "ci-user"
		password   = "right-Pw-3e8c1a"
		wrongPass  = "wrong-Pw-b71f44-secret"
		wrongToken = "eyJ-wrong-token-5c2d9e"
	)
	secrets := []string{password, wrongPass, wrongToken,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + wrongPass)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	tarPath := pushableTarball(t)

	basic := registrytest.New(t, registrytest.WithBasicAuth(user, password))
	token := registrytest.New(t, registrytest.WithTokenAuth(user, password))
	tlsReg := registrytest.New(t, registrytest.WithTLS(), registrytest.WithBasicAuth(user, password))
	emptyConfig := t.TempDir()

	for _, tc := range []struct {
		name      string
		target    string
		stdin     string // the password, with -username
		dockerCfg string
		wantInErr string
	}{
		{"basic, wrong password on stdin", basic.Ref("team/app:v1"), wrongPass, emptyConfig, basic.Host},
		{"basic, a token as the password", basic.Ref("team/app:v1"), wrongToken, emptyConfig, basic.Host},
		{"token auth, wrong password on stdin", token.Ref("team/app:v1"), wrongPass, emptyConfig, token.Host},
		{"token auth, a token as the password", token.Ref("team/app:v1"), wrongToken, emptyConfig, token.Host},
		{"basic, wrong password in the docker config", basic.Ref("team/app:v1"), "", dockerConfig(t, basic.Host, user, wrongPass), basic.Host},
		{"token auth, wrong password in the docker config", token.Ref("team/app:v1"), "", dockerConfig(t, token.Host, user, wrongPass), token.Host},
		{"no credentials at all", basic.Ref("team/app:v1"), "", emptyConfig, basic.Host},
		{"TLS that does not verify, right password", tlsReg.Ref("team/app:v1"), password, emptyConfig, tlsReg.Host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-image", tarPath, "-target", tc.target}
			if tc.stdin != "" {
				args = append(args, "-username", user, "-password-stdin")
			}
			stdout, stderr, err := runProgram(t, bin, args, tc.stdin+"\n", "DOCKER_CONFIG="+tc.dockerCfg)
			out := stdout + stderr
			require.Error(t, err, "push %q succeeded; want a failure\n%s", args, out)
			for _, s := range secrets {
				assert.NotContains(t, out, s, "push %q printed a secret", args)
			}
			last := lastLine(stderr)
			assert.Contains(t, last, tc.wantInErr, "push %q: last line of stderr: want it to name the registry", args)
			t.Logf("%s", last)
		})
	}
}

// buildExample builds the program examples/NAME from source and returns
// the path of its executable. It skips the test without the example or a
// go tool.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	goTool := itest.Require(t, "go")[0]
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(root, "examples", name, "main.go")); err != nil {
		t.Skipf("examples/%s is not there: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command(goTool, "build", "-o", bin, "./examples/"+name)
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ./examples/%s:\n%s", name, out)
	return bin
}

// pushableTarball writes an OCI tarball of a one-layer image and returns
// its path.
func pushableTarball(t *testing.T) string {
	t.Helper()
	l, err := layer.FromFiles([]layer.File{{Path: "/hello", Data: bytes.Repeat([]byte("x"), 300<<10)}})
	require.NoError(t, err)
	img, err := image.Build(t.Context(), nil, image.WithLayers(l))
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "img.oci.tar")
	require.NoError(t, image.WriteOCITarball(t.Context(), p, img))
	return p
}

// dockerConfig writes a docker config holding user's credentials for
// host and returns its directory (for DOCKER_CONFIG).
func dockerConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	return dir
}

// runProgram runs bin with args, stdin and env added to the test's
// environment, for two minutes at most, and returns what it printed.
func runProgram(t *testing.T, bin string, args []string, stdin string, env ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
