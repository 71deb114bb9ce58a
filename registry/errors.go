package registry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrUnauthorized: the registry refused the credentials, or access to
	// the repository with them (HTTP 401 or 403).
	ErrUnauthorized = errors.New("registry: access refused")
	// ErrPlatformNotFound: the index has no image for the platform asked
	// with WithPlatform.
	ErrPlatformNotFound = errors.New("registry: platform not in index")
	// ErrNotIndex: PullIndex was given a reference to a single image.
	ErrNotIndex = errors.New("registry: not an index")
)

func basicHeader(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// explain turns what go-containerregistry returned into an error a user
// can act on: which operation on which reference failed and why, with the
// cause wrapped, the context's error wrapped when it was cancelled, and no
// credential in its text.
func (c *call) explain(op string, ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	if cerr := c.ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		source := "the docker config (config.json in $DOCKER_CONFIG or ~/.docker, and its credential helpers)"
		switch {
		case c.o.auth != nil:
			source = "WithBasicAuth or WithBearerToken"
		case c.o.customKeychain:
			source = "the keychain given with WithKeychain"
		}
		action := "pull from"
		if strings.HasPrefix(op, "push") {
			action = "push to"
		}
		err = fmt.Errorf("%w: registry %s refused to let these credentials %s repository %q (HTTP %d %s); "+
			"the credentials came from %s; check them, or pass others with WithBasicAuth or DOCKER_CONFIG: %w",
			ErrUnauthorized, ref.Context().RegistryStr(), action, ref.Context().RepositoryStr(),
			terr.StatusCode, http.StatusText(terr.StatusCode), source, err)
	} else if terr != nil && terr.StatusCode != 0 && len(terr.Errors) > 0 {
		// The registry's error codes are shown; add the HTTP status.
		err = fmt.Errorf("HTTP %d %s: %w", terr.StatusCode, http.StatusText(terr.StatusCode), err)
	}
	err = fmt.Errorf("%s %s: %w", op, ref, err)
	if len(c.o.secrets) > 0 {
		err = &redacted{err: err, secrets: c.o.secrets}
	}
	return err
}

// redacted hides credentials that may have found their way into an error's
// text (for example echoed by a token server).
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string {
	s := r.err.Error()
	for _, sec := range r.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

func (r *redacted) Unwrap() error { return r.err }
