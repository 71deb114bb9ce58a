package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

const (
	user     = "alice"
	password = "s3cret-Pa55word-7f3a"
	token    = "tok-9d1c5e0b7a2f4c68"
)

// emptyDockerConfig points DOCKER_CONFIG at an empty directory, so the
// default keychain finds no credentials, and returns the directory.
func emptyDockerConfig(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	return dir
}

// writeDockerConfig writes config.json, as docker login does, in a new
// DOCKER_CONFIG directory and returns its path.
func writeDockerConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	dir := emptyDockerConfig(t)
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	p := filepath.Join(dir, "config.json")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// auths is the "auths" section of a docker config with one entry.
func auths(host, user, pass string) map[string]any {
	return map[string]any{"auths": map[string]any{host: map[string]string{"auth": basicHeader(user, pass)}}}
}

// installCredentialHelper puts docker-credential-NAME on PATH: a helper
// that gives user and pass for every registry.
func installCredentialHelper(t *testing.T, name, user, pass string) {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread url\nprintf '{\"ServerURL\":\"%%s\",\"Username\":%q,\"Secret\":%q}\\n' \"$url\"\n", user, pass)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// staticKeychain gives the same credentials for every registry.
type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
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
			_, err := Push(ctx, ref, img, good)
			require.NoError(t, err, "Push with the right password")
			pulled, err := Pull(ctx, ref, good)
			require.NoError(t, err, "Pull with the right password")
			s.ResetStats()
			_, err = Push(ctx, s.Ref("team/other:v1"), pulled, good)
			require.NoError(t, err, "Push of a pulled image to another repository")
			st := s.Stats()
			assert.Equal(t, 3, st.Mounts, "cross-repository push with %s auth: Mounts", mode)
			assert.Zero(t, st.BlobGETs, "cross-repository push with %s auth: BlobGETs", mode)

			// From a docker config file, as docker login writes it.
			writeDockerConfig(t, auths(s.Host, user, password))
			_, err = Pull(ctx, ref)
			assert.NoError(t, err, "Pull with credentials from DOCKER_CONFIG")
			// From a keychain.
			_, err = Pull(ctx, ref, WithKeychain(staticKeychain{user, password}))
			assert.NoError(t, err, "Pull with credentials from WithKeychain")
		})
	}
}

func TestBearerTokenAuth(t *testing.T) {
	emptyDockerConfig(t)
	s := registrytest.New(t, registrytest.WithTokenAuth(user, password))
	ctx := ctxT(t)
	ref := s.Ref("team/app:v1")
	_, err := Push(ctx, ref, randomImage(t, 1, 256), WithBasicAuth(user, password))
	require.NoError(t, err)

	// A token fetched beforehand, given with WithBearerToken.
	req, err := http.NewRequest(http.MethodGet, "http://"+s.Host+"/token?service=registrytest&scope=repository:team/app:pull", nil)
	require.NoError(t, err)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	require.NoError(t, err)
	require.NotEmpty(t, tok.Token, "token endpoint")

	_, err = Pull(ctx, ref, WithBearerToken(tok.Token))
	assert.NoError(t, err, "Pull with WithBearerToken")
	_, err = Push(ctx, s.Ref("team/app:v9"), randomImage(t, 1, 256), WithBearerToken(tok.Token))
	assert.ErrorIs(t, err, ErrUnauthorized, "Push with a pull-only token")
	assert.NotContains(t, fmt.Sprint(err), tok.Token, "Push with a pull-only token")
	assert.Contains(t, fmt.Sprint(err), "came from WithBearerToken", "Push with a pull-only token")
}

// TestRefusedSaysWhereCredentialsCameFrom checks the hint of a 401: the
// option, keychain, docker config file or credential helper the refused
// credentials came from, or that there were none (and where none were
// found).
func TestRefusedSaysWhereCredentialsCameFrom(t *testing.T) {
	for _, mode := range []string{"basic", "token"} {
		opt := registrytest.WithBasicAuth(user, password)
		if mode == "token" {
			opt = registrytest.WithTokenAuth(user, password)
		}
		s := registrytest.New(t, opt)
		for _, tt := range refusedCases(s.Host) {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				ctx := ctxT(t)
				opts, want := tt.setup(t)
				for _, op := range []string{"push", "pull"} {
					var err error
					if op == "push" {
						_, err = Push(ctx, s.Ref("team/app:v1"), randomImage(t, 1, 64), opts...)
					} else {
						_, err = Pull(ctx, s.Ref("team/app:v1"), opts...)
					}
					checkRefused(t, err, s.Host, op, want, tt.found)
				}
			})
		}
	}
}

// wrongPassword is the password of the refused credentials.
const wrongPassword = "wrong-Pa55-91e2"

// refusedCase is where credentials for a registry at host come from (or
// do not): setup prepares them and returns the options to pass and the
// hint a 401 must give, with the paths of this run; found says whether
// credentials were sent.
type refusedCase struct {
	name  string
	setup func(t *testing.T) (opts []Option, want string)
	found bool
}

func refusedCases(host string) []refusedCase {
	return []refusedCase{
		{"WithBasicAuth", func(t *testing.T) ([]Option, string) {
			emptyDockerConfig(t)
			return []Option{WithBasicAuth(user, wrongPassword)}, "the credentials came from WithBasicAuth;"
		}, true},
		{"WithBearerToken", func(t *testing.T) ([]Option, string) {
			emptyDockerConfig(t)
			return []Option{WithBearerToken(token)}, "the credentials came from WithBearerToken;"
		}, true},
		{"WithKeychain", func(t *testing.T) ([]Option, string) {
			return []Option{WithKeychain(staticKeychain{user, wrongPassword})}, "the credentials came from the keychain given with WithKeychain;"
		}, true},
		{"WithKeychain without credentials", func(t *testing.T) ([]Option, string) {
			return []Option{WithKeychain(authn.NewMultiKeychain())}, "no credentials were sent: the keychain given with WithKeychain has none for " + host + ";"
		}, false},
		{"docker config", func(t *testing.T) ([]Option, string) {
			p := writeDockerConfig(t, auths(host, user, wrongPassword))
			return nil, "the credentials came from the docker config " + p + ";"
		}, true},
		{"docker config for another registry", func(t *testing.T) ([]Option, string) {
			p := writeDockerConfig(t, auths("registry.example.com", user, password))
			return nil, "no credentials were sent: none for " + host + " in the docker config " + p + " or its credential helpers;"
		}, false},
		{"no docker config", func(t *testing.T) ([]Option, string) {
			dir := emptyDockerConfig(t)
			return nil, "no credentials were sent: there is no docker config (" + filepath.Join(dir, "config.json") + ") nor podman auth.json;"
		}, false},
		{"credential helper", func(t *testing.T) ([]Option, string) {
			installCredentialHelper(t, "stevedoretest", user, wrongPassword)
			p := writeDockerConfig(t, map[string]any{"credHelpers": map[string]string{host: "stevedoretest"}})
			return nil, "the credentials came from the credential helper docker-credential-stevedoretest, as the docker config " + p + " says;"
		}, true},
		{"credential store", func(t *testing.T) ([]Option, string) {
			installCredentialHelper(t, "storetest", user, wrongPassword)
			p := writeDockerConfig(t, map[string]any{"credsStore": "storetest"})
			return nil, "the credentials came from the credential helper docker-credential-storetest, as the docker config " + p + " says;"
		}, true},
		{"REGISTRY_AUTH_FILE", func(t *testing.T) ([]Option, string) {
			p := filepath.Join(t.TempDir(), "auth.json")
			b, err := json.Marshal(auths(host, user, wrongPassword))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(p, b, 0o600))
			emptyDockerConfig(t)
			t.Setenv("REGISTRY_AUTH_FILE", p)
			return nil, "the credentials came from the auth file of REGISTRY_AUTH_FILE " + p + ";"
		}, true},
	}
}

// checkRefused checks the error of an operation op ("push" or "pull")
// refused by the registry at host: ErrUnauthorized, with the hint want,
// who was refused, what to do about it, and no secret.
func checkRefused(t *testing.T, err error, host, op, want string, found bool) {
	t.Helper()
	require.ErrorIs(t, err, ErrUnauthorized, op)
	msg := err.Error()
	assert.Contains(t, msg, want, op)
	who := "an anonymous client"
	if found {
		who = "these credentials"
	}
	assert.Contains(t, msg, fmt.Sprintf("registry %s refused to let %s %s", host, who, op), op)
	for _, also := range []string{`repository "team/app"`, "WithBasicAuth or DOCKER_CONFIG"} {
		assert.Contains(t, msg, also, op)
	}
	for _, secret := range []string{wrongPassword, token, basicHeader(user, wrongPassword)} {
		assert.NotContains(t, msg, secret, op)
	}
}

// TestSecretsNeverInErrors drives every authentication failure we know of
// with a known password and token and greps every error (the whole chain)
// and every progress event for them.
func TestSecretsNeverInErrors(t *testing.T) {
	emptyDockerConfig(t)
	secrets := []string{password, token, basicHeader(user, password), basicHeader(user, password+"x")}
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
		_, err := s.SeedImage(ctx, "app:v1")
		require.NoError(t, err)
		_, err = s.SeedIndex(ctx, "multi:v1")
		require.NoError(t, err)
		for _, auth := range []Option{WithBasicAuth(user, password), WithBasicAuth(user, password+"x"), WithBearerToken(token),
			WithKeychain(staticKeychain{user, password})} {
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
	require.GreaterOrEqual(t, len(outputs), 40, "error strings collected; the auth paths did not fail as expected")
	for _, out := range outputs {
		for _, sec := range secrets {
			assert.NotContains(t, out, sec)
		}
		assert.NotContains(t, out, "Authorization")
	}
}

// echoTransport answers every request with 401 and an error whose message
// echoes the request's Authorization header, as a careless server might.
type echoTransport struct{}

func (echoTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{
		"code": "UNAUTHORIZED", "message": "refused Authorization: " + r.Header.Get("Authorization"),
	}}})
	return &http.Response{
		StatusCode: http.StatusUnauthorized,
		Header:     http.Header{"Www-Authenticate": {`Basic realm="echo"`}, "Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(string(body))),
		Request:    r,
	}, nil
}

// TestEchoedCredentialsAreRedacted checks the last line of defence:
// credentials a server echoes are cut from the error text, whether they
// came from an option or from the docker config.
func TestEchoedCredentialsAreRedacted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    func(t *testing.T) []Option
		secrets []string
	}{
		{"WithBasicAuth", func(t *testing.T) []Option {
			emptyDockerConfig(t)
			return []Option{WithBasicAuth(user, password)}
		}, []string{password, basicHeader(user, password)}},
		{"docker config", func(t *testing.T) []Option {
			writeDockerConfig(t, auths("registry.example.com", user, password))
			return nil
		}, []string{password, basicHeader(user, password)}},
		{"WithBearerToken", func(t *testing.T) []Option {
			emptyDockerConfig(t)
			return []Option{WithBearerToken(token)}
		}, []string{token}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := append(tc.opts(t), WithTransport(echoTransport{}), WithRetries(0))
			_, err := Pull(ctxT(t), "registry.example.com/app:v1", opts...)
			require.ErrorIs(t, err, ErrUnauthorized)
			msg := err.Error()
			assert.Contains(t, msg, "refused Authorization: ", "the server's echo is kept")
			assert.Contains(t, msg, redactedText, "the echoed credential is replaced")
			for _, sec := range tc.secrets {
				assert.NotContains(t, msg, sec)
			}
		})
	}
}

// TestKeychainRecorder checks what a call keeps of a keychain's
// credentials: whether there were any, and each secret once, however many
// requests used them.
func TestKeychainRecorder(t *testing.T) {
	repo, err := name.NewRepository("registry.example.com/app")
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		kc      authn.Keychain
		uses    int
		found   bool
		secrets []string
	}{
		{"credentials used often", staticKeychain{user, password}, 50, true, []string{password, basicHeader(user, password)}},
		{"credentials never used", staticKeychain{user, password}, 0, true, []string{password, basicHeader(user, password)}},
		{"no credentials", authn.NewMultiKeychain(), 0, false, nil},
	} {
		k := &keychainRecorder{inner: tc.kc}
		a, err := k.Resolve(repo)
		require.NoError(t, err, "%s: Resolve", tc.name)
		for range tc.uses {
			_, err := a.Authorization()
			require.NoError(t, err)
		}
		found, err := k.hasCredentials(context.Background(), repo)
		require.NoError(t, err, "%s: hasCredentials", tc.name)
		assert.Equal(t, tc.found, found, "%s: hasCredentials", tc.name)
		assert.ElementsMatch(t, tc.secrets, k.recordedSecrets(), "%s: recordedSecrets", tc.name)
		if !tc.found {
			assert.Same(t, authn.Anonymous, a, "%s: go-containerregistry tells anonymous access by identity", tc.name)
		}
	}
}
