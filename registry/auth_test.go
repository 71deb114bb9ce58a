package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

const (
	user     = "alice"
	password = "s3cret-Pa55word-7f3a"
	token    = "tok-9d1c5e0b7a2f4c68"
)

// emptyDockerConfig points DOCKER_CONFIG at an empty directory, so the
// default keychain finds no credentials.
func emptyDockerConfig(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
}

func TestAuth(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		t.Run(mode, func(t *testing.T) {
			emptyDockerConfig(t)
			opt := registrytest.WithBasicAuth(user, password)
			if mode == "token" {
				opt = registrytest.WithTokenAuth(user, password)
			}
			s := registrytest.New(t, opt)
			ctx := ctxT(t)
			img := randomImage(t, 2, 512)
			ref := s.Ref("team/app:v1")

			// Right credentials: push, pull, and a cross-repository mount.
			good := WithBasicAuth(user, password)
			if _, err := Push(ctx, ref, img, good); err != nil {
				t.Fatalf("Push with the right password = %v", err)
			}
			pulled, err := Pull(ctx, ref, good)
			if err != nil {
				t.Fatalf("Pull with the right password = %v", err)
			}
			s.ResetStats()
			if _, err := Push(ctx, s.Ref("team/other:v1"), pulled, good); err != nil {
				t.Fatalf("Push of a pulled image to another repository = %v", err)
			}
			if st := s.Stats(); st.Mounts != 3 || st.BlobGETs != 0 {
				t.Errorf("cross-repository push with %s auth: Mounts, BlobGETs = %d, %d; want 3, 0", mode, st.Mounts, st.BlobGETs)
			}

			if mode == "token" {
				// A token fetched beforehand, given with WithBearerToken.
				req, _ := http.NewRequest(http.MethodGet, "http://"+s.Host+"/token?service=registrytest&scope=repository:team/app:pull", nil)
				req.SetBasicAuth(user, password)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var tok struct{ Token string }
				err = json.NewDecoder(resp.Body).Decode(&tok)
				resp.Body.Close()
				if err != nil || tok.Token == "" {
					t.Fatalf("token endpoint: %v %q", err, tok.Token)
				}
				if _, err := Pull(ctx, ref, WithBearerToken(tok.Token)); err != nil {
					t.Errorf("Pull with WithBearerToken = %v", err)
				}
				_, err = Push(ctx, s.Ref("team/app:v9"), img, WithBearerToken(tok.Token))
				if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), tok.Token) {
					t.Errorf("Push with a pull-only token = %v, want ErrUnauthorized without the token", err)
				}
			}

			// From a docker config file, as docker login writes it.
			dir := t.TempDir()
			cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, s.Host, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			if _, err := Pull(ctx, ref); err != nil {
				t.Fatalf("Pull with credentials from DOCKER_CONFIG = %v", err)
			}
			emptyDockerConfig(t)

			for _, tc := range []struct {
				name    string
				opts    []Option
				mention []string
			}{
				{"wrong password", []Option{WithBasicAuth(user, password+"x")}, []string{"WithBasicAuth"}},
				{"wrong user", []Option{WithBasicAuth("mallory", password)}, []string{"WithBasicAuth"}},
				{"anonymous", nil, []string{"DOCKER_CONFIG", "docker config"}},
				{"keychain", []Option{WithKeychain(authn.NewMultiKeychain())}, []string{"WithKeychain"}},
			} {
				for _, op := range []string{"push", "pull"} {
					var err error
					if op == "push" {
						_, err = Push(ctx, ref, img, tc.opts...)
					} else {
						_, err = Pull(ctx, ref, tc.opts...)
					}
					if !errors.Is(err, ErrUnauthorized) {
						t.Errorf("%s %s: err = %v, want ErrUnauthorized", tc.name, op, err)
						continue
					}
					msg := err.Error()
					for _, want := range append(tc.mention, s.Host, `"team/app"`, "WithBasicAuth", "DOCKER_CONFIG") {
						if !strings.Contains(msg, want) {
							t.Errorf("%s %s: error %q does not mention %q", tc.name, op, msg, want)
						}
					}
				}
			}
		})
	}
}

// TestSecretsNeverInErrors drives every authentication failure we know of
// with a known password and token and greps every error (the whole chain)
// and every progress event for them.
func TestSecretsNeverInErrors(t *testing.T) {
	emptyDockerConfig(t)
	secrets := []string{password, token, base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password + "x"))}
	var outputs []string
	record := func(err error) {
		for ; err != nil; err = errors.Unwrap(err) {
			outputs = append(outputs, err.Error())
		}
	}
	progress := WithProgress(func(p Progress) { outputs = append(outputs, fmt.Sprintf("%+v", p)) })
	ctx := ctxT(t)
	img := randomImage(t, 1, 256)
	for _, srv := range []registrytest.Option{
		registrytest.WithBasicAuth(user, password+"-other"),
		registrytest.WithTokenAuth(user, password+"-other"),
		registrytest.WithTLS(), // TLS failure with credentials in hand
	} {
		s := registrytest.New(t, srv)
		if _, err := s.SeedImage(ctx, "app:v1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SeedIndex(ctx, "multi:v1"); err != nil {
			t.Fatal(err)
		}
		for _, auth := range []Option{WithBasicAuth(user, password), WithBasicAuth(user, password+"x"), WithBearerToken(token)} {
			_, err := Push(ctx, s.Ref("app:v2"), img, auth, progress, fast)
			record(err)
			_, err = Pull(ctx, s.Ref("app:v1"), auth, fast)
			record(err)
			_, err = PullIndex(ctx, s.Ref("multi:v1"), auth, fast)
			record(err)
			_, err = Pull(ctx, s.Ref("multi:v1"), auth, WithPlatform("linux/s390x"), fast)
			record(err)
			_, err = PushIndex(ctx, s.Ref("multi:v2"), nil, auth)
			record(err)
		}
	}
	if len(outputs) < 30 {
		t.Fatalf("only %d error strings collected; the auth paths did not fail as expected", len(outputs))
	}
	for _, out := range outputs {
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("output contains a secret %q: %s", sec, out)
			}
		}
		if strings.Contains(out, "Authorization") {
			t.Errorf("output mentions an Authorization header: %s", out)
		}
	}
}

// TestRedaction checks the last line of defence: a secret echoed by a
// server would be cut from the error text.
func TestRedaction(t *testing.T) {
	c, err := newCall(context.Background(), []Option{WithBasicAuth(user, password)})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := c.parse("example.com/app:v1")
	err = c.explain("pushing", r, fmt.Errorf("server said: bad password %s", password))
	if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("explain(echoed password) = %q, want it redacted", err)
	}
}
