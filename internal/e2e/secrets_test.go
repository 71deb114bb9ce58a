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
	goTool := itest.Require(t, "go")[0]
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "examples", "push", "main.go")); err != nil {
		t.Skipf("examples/push is not there: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "push")
	build := exec.Command(goTool, "build", "-o", bin, "./examples/push")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/push: %v\n%s", err, out)
	}

	const (
		user       = "ci-user"
		password   = "right-Pw-3e8c1a"
		wrongPass  = "wrong-Pw-b71f44-secret"
		wrongToken = "eyJ-wrong-token-5c2d9e"
	)
	secrets := []string{password, wrongPass, wrongToken,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + wrongPass)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}

	// An image to push, as an OCI tarball.
	l, err := layer.FromFiles([]layer.File{{Path: "/hello", Data: bytes.Repeat([]byte("x"), 300<<10)}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Build(t.Context(), nil, image.WithLayers(l))
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "img.oci.tar")
	if err := image.WriteOCITarball(t.Context(), tarPath, img); err != nil {
		t.Fatal(err)
	}

	basic := registrytest.New(t, registrytest.WithBasicAuth(user, password))
	token := registrytest.New(t, registrytest.WithTokenAuth(user, password))
	tlsReg := registrytest.New(t, registrytest.WithTLS(), registrytest.WithBasicAuth(user, password))

	// dockerConfig writes a docker config holding creds for host.
	dockerConfig := func(host, pass string) string {
		dir := t.TempDir()
		cfg := map[string]any{"auths": map[string]any{host: map[string]string{
			"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
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
		{"basic, wrong password in the docker config", basic.Ref("team/app:v1"), "", dockerConfig(basic.Host, wrongPass), basic.Host},
		{"token auth, wrong password in the docker config", token.Ref("team/app:v1"), "", dockerConfig(token.Host, wrongPass), token.Host},
		{"no credentials at all", basic.Ref("team/app:v1"), "", emptyConfig, basic.Host},
		{"TLS that does not verify, right password", tlsReg.Ref("team/app:v1"), password, emptyConfig, tlsReg.Host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-image", tarPath, "-target", tc.target}
			if tc.stdin != "" {
				args = append(args, "-username", user, "-password-stdin")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Stdin = strings.NewReader(tc.stdin + "\n")
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+tc.dockerCfg)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			out := stdout.String() + stderr.String()
			if err == nil {
				t.Fatalf("push %q succeeded; want a failure\n%s", args, out)
			}
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("push %q printed the secret %q:\n%s", args, s, out)
				}
			}
			last := lastLine(stderr.String())
			if !strings.Contains(last, tc.wantInErr) {
				t.Errorf("push %q: last line of stderr %q, want it to name %s", args, last, tc.wantInErr)
			}
			t.Logf("%s", last)
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
