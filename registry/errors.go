package registry

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrInvalidOption: an option was given an argument it cannot take.
	// The error names the option and says why.
	ErrInvalidOption = errors.New("registry: invalid option")
	// ErrUnauthorized: the registry refused the credentials, or access to
	// the repository with them (HTTP 401 or 403). The error says where
	// the credentials came from, or that none were found.
	ErrUnauthorized = errors.New("registry: access refused")
	// ErrPlatformNotFound: the index has no image for the platform asked
	// with WithPlatform.
	ErrPlatformNotFound = errors.New("registry: platform not in index")
	// ErrNotIndex: PullIndex was given a reference to a single image
	// (PullAny takes both).
	ErrNotIndex = errors.New("registry: not an index")
	// ErrPlainHTTP: a registry that is not on the loopback interface
	// would be reached over plain HTTP without [WithInsecure].
	ErrPlainHTTP = errors.New("registry: plain HTTP refused for a non-loopback registry (use WithInsecure to allow it)")
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
		err = c.refused(op, ref, terr.StatusCode, err)
	} else if terr != nil && terr.StatusCode != 0 && len(terr.Errors) > 0 {
		// The registry's error codes are shown; add the HTTP status.
		err = fmt.Errorf("HTTP %d %s: %w", terr.StatusCode, http.StatusText(terr.StatusCode), err)
	}
	err = fmt.Errorf("%s %s: %w", op, ref, err)
	if secrets := append(slices.Clone(c.o.secrets), c.keys.recordedSecrets()...); len(secrets) > 0 {
		err = &redacted{err: err, secrets: secrets}
	}
	return err
}

// refused explains a 401 or 403: who was refused what, where the
// credentials came from (or that there were none), and what to do.
func (c *call) refused(op string, ref name.Reference, status int, err error) error {
	action := "pull from"
	if strings.HasPrefix(op, "push") {
		action = "push to"
	}
	repo := ref.Context()
	from, found := c.credentialSource(repo)
	who, advice := "these credentials", "the credentials came from "+from+"; check them, or pass others"
	if !found {
		who, advice = "an anonymous client", "no credentials were sent: "+from+"; pass some"
	}
	return fmt.Errorf("%w: registry %s refused to let %s %s repository %q (HTTP %d %s); "+
		"%s with WithBasicAuth or DOCKER_CONFIG: %w",
		ErrUnauthorized, repo.RegistryStr(), who, action, repo.RepositoryStr(),
		status, http.StatusText(status), advice, err)
}

// redacted hides credentials that may have found their way into an error's
// text (for example echoed by a token server); see redact.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string { return redact(r.err.Error(), r.secrets) }

func (r *redacted) Unwrap() error { return r.err }
