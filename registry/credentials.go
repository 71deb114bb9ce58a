package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Which option chose the credentials of a call (options.credsFrom).
const (
	fromDefaultKeychain = ""
	fromKeychain        = "WithKeychain"
	fromBasicAuth       = "WithBasicAuth"
	fromBearerToken     = "WithBearerToken"
)

// keychainRecorder stands between go-containerregistry and the call's
// keychain. It remembers whether the keychain had credentials, for the
// error of a refused call, and their secrets, to keep them out of every
// error's text.
type keychainRecorder struct {
	inner authn.Keychain

	mu      sync.Mutex
	asked   bool                // the keychain was asked at least once
	last    authn.Authenticator // the last credentials it gave, if any
	found   bool                // they held something when used
	secrets []string
}

var _ authn.ContextKeychain = (*keychainRecorder)(nil)

func (k *keychainRecorder) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k *keychainRecorder) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	a, err := authn.Resolve(ctx, k.inner, r)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked = true
	if err != nil || a == authn.Anonymous {
		// go-containerregistry tells anonymous access by identity.
		return a, err
	}
	ra := &recordedAuth{inner: a, k: k}
	k.last = ra
	return ra, nil
}

func (k *keychainRecorder) record(cfg *authn.AuthConfig) {
	if cfg == nil || *cfg == (authn.AuthConfig{}) {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.found = true
	secrets := []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken}
	if cfg.Password != "" {
		secrets = append(secrets, basicHeader(cfg.Username, cfg.Password))
	}
	// Credentials are used for every request: keep each secret once.
	for _, sec := range secrets {
		if sec != "" && !slices.Contains(k.secrets, sec) {
			k.secrets = append(k.secrets, sec)
		}
	}
}

// hasCredentials reports whether the keychain gave credentials that hold
// something, asking it for repo if it was not asked yet.
func (k *keychainRecorder) hasCredentials(ctx context.Context, repo name.Repository) (bool, error) {
	k.mu.Lock()
	asked, last, found := k.asked, k.last, k.found
	k.mu.Unlock()
	if !asked {
		a, err := k.ResolveContext(ctx, repo)
		if err != nil || a == authn.Anonymous {
			return false, err
		}
		last = a
	}
	if found || last == nil {
		return found, nil
	}
	// Given but never used: look inside.
	_, err := authn.Authorization(ctx, last)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.found, err
}

// recordedSecrets returns the secrets of the credentials the keychain gave.
func (k *keychainRecorder) recordedSecrets() []string {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.secrets)
}

// recordedAuth records the credentials of an authenticator when they are
// used.
type recordedAuth struct {
	inner authn.Authenticator
	k     *keychainRecorder
}

var _ authn.ContextAuthenticator = (*recordedAuth)(nil)

func (r *recordedAuth) Authorization() (*authn.AuthConfig, error) {
	return r.AuthorizationContext(context.Background())
}

func (r *recordedAuth) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	cfg, err := authn.Authorization(ctx, r.inner)
	if err == nil {
		r.k.record(cfg)
	}
	return cfg, err
}

// credentialSource says where the credentials sent to repo came from, or,
// when found is false, that none were sent and where none were found.
func (c *call) credentialSource(repo name.Repository) (from string, found bool) {
	switch c.o.credsFrom {
	case fromBasicAuth, fromBearerToken:
		return c.o.credsFrom, true
	}
	found, err := c.keys.hasCredentials(c.ctx, repo)
	if err != nil {
		return fmt.Sprintf("asking the keychain for them failed: %v", err), false
	}
	if c.o.credsFrom == fromKeychain {
		if !found {
			return "the keychain given with WithKeychain has none for " + repo.RegistryStr(), false
		}
		return "the keychain given with WithKeychain", true
	}
	file, what := keychainFile()
	switch {
	case file == "":
		return fmt.Sprintf("there is no docker config (%s) nor podman auth.json", dockerConfigPath()), false
	case !found:
		return fmt.Sprintf("none for %s in %s %s or its credential helpers", repo.RegistryStr(), what, file), false
	}
	if helper := credentialHelper(file, repo); helper != "" {
		return fmt.Sprintf("the credential helper docker-credential-%s, as %s %s says", helper, what, file), true
	}
	return what + " " + file, true
}

// dockerConfigPath is the docker config.json go-containerregistry's
// default keychain reads: in $DOCKER_CONFIG, or else in ~/.docker.
func dockerConfigPath() string {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	return filepath.Join(dir, "config.json")
}

// keychainFile returns the file authn.DefaultKeychain takes credentials
// from, choosing it as that keychain does, and what it is; "" if none.
func keychainFile() (path, what string) {
	home, _ := os.UserHomeDir()
	env := os.Getenv("DOCKER_CONFIG")
	if (home != "" && isFile(filepath.Join(home, ".docker", "config.json"))) ||
		(env != "" && isFile(filepath.Join(env, "config.json"))) {
		return dockerConfigPath(), "the docker config"
	}
	if p := os.Getenv("REGISTRY_AUTH_FILE"); p != "" && isFile(filepath.Clean(p)) {
		return filepath.Clean(p), "the auth file of REGISTRY_AUTH_FILE"
	}
	configDir := os.Getenv("XDG_CONFIG_HOME")
	if configDir == "" && home != "" {
		configDir = filepath.Join(home, ".config")
	}
	podman := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "containers", "auth.json")
	if (os.Getenv("XDG_RUNTIME_DIR") == "" || !isFile(podman)) && configDir != "" {
		podman = filepath.Join(configDir, "containers", "auth.json")
	}
	if isFile(podman) {
		return podman, "the podman auth file"
	}
	return "", ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// credentialHelper returns the name of the credential helper the config
// file names for repo (credHelpers, else credsStore), or "".
func credentialHelper(file string, repo name.Repository) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var cf struct {
		CredHelpers map[string]string `json:"credHelpers"`
		CredsStore  string            `json:"credsStore"`
	}
	if json.Unmarshal(b, &cf) != nil {
		return ""
	}
	for _, key := range []string{repo.String(), repo.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		if h := cf.CredHelpers[key]; h != "" {
			return h
		}
	}
	return cf.CredsStore
}
