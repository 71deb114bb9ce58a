package registry

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/option"
)

// Option configures [Pull], [PullIndex], [Push] and [PushIndex].
type Option func(*options) error

// Defaults of the options.
const (
	DefaultPlatform  = "linux/amd64"
	DefaultJobs      = 4
	DefaultRetries   = 5
	DefaultUserAgent = "stevedore"
)

type options struct {
	keychain authn.Keychain
	auth     authn.Authenticator
	// credsFrom names the option that chose the credentials, for errors.
	credsFrom string
	secrets   []string // never to appear in errors
	insecure  bool
	transport http.RoundTripper
	userAgent string
	platform  v1.Platform
	progress  func(Progress)
	jobs      int
	retries   int
	// backoff is the first retry delay; later ones double, with jitter,
	// up to maxBackoff.
	backoff    time.Duration
	maxBackoff time.Duration
}

func makeOptions(opts []Option) (*options, error) {
	p, _ := v1.ParsePlatform(DefaultPlatform)
	o := &options{
		keychain:   authn.DefaultKeychain,
		userAgent:  DefaultUserAgent,
		platform:   *p,
		jobs:       DefaultJobs,
		retries:    DefaultRetries,
		backoff:    200 * time.Millisecond,
		maxBackoff: 10 * time.Second,
	}
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	return o, nil
}

// WithKeychain resolves credentials for the registry from k (for example
// authn.NewMultiKeychain of a cloud provider's keychain and
// authn.DefaultKeychain). It replaces [WithBasicAuth] and
// [WithBearerToken]; a registry the keychain knows nothing about is
// accessed anonymously. Credentials it gives never appear in errors, and
// an error for refused access says whether it had any. The default is
// authn.DefaultKeychain (the docker config.json in $DOCKER_CONFIG or
// ~/.docker, and its credential helpers).
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error {
		if k == nil {
			return fmt.Errorf("%w: WithKeychain: nil keychain", ErrInvalidOption)
		}
		o.keychain, o.auth, o.secrets, o.credsFrom = k, nil, nil, fromKeychain
		return nil
	}
}

// WithBasicAuth logs in with a user name and password (or a registry's
// personal access token as the password). The password never appears in
// errors. The default is the keychain (see [WithKeychain]).
func WithBasicAuth(user, pass string) Option {
	return func(o *options) error {
		if user == "" || pass == "" {
			return fmt.Errorf("%w: WithBasicAuth: needs a user name and a password", ErrInvalidOption)
		}
		o.auth, o.keychain, o.credsFrom = &authn.Basic{Username: user, Password: pass}, nil, fromBasicAuth
		o.secrets = []string{pass, basicHeader(user, pass)}
		return nil
	}
}

// WithBearerToken sends a registry token, as obtained from the registry's
// token service, with every request. The token never appears in errors.
// The default is the keychain (see [WithKeychain]).
func WithBearerToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return fmt.Errorf("%w: WithBearerToken: needs a token", ErrInvalidOption)
		}
		o.auth, o.keychain, o.credsFrom = &authn.Bearer{Token: token}, nil, fromBearerToken
		o.secrets = []string{token}
		return nil
	}
}

// WithInsecure allows plain HTTP and TLS certificates that do not verify,
// for any registry (HTTPS is still tried first). Loopback registries
// (localhost, 127.0.0.0/8, [::1]) speak plain HTTP without it. When
// [WithTransport] is given too, its TLS settings are left alone. The
// default is HTTPS with verified certificates for every other registry.
func WithInsecure() Option {
	return func(o *options) error {
		o.insecure = true
		return nil
	}
}

// WithTransport sends the HTTP requests through rt, for example a
// transport that trusts a private certificate authority, or one that
// records requests. Authentication, retries and the scheme rules are
// layered on top of it. The default is a shared clone of
// http.DefaultTransport (proxy settings from the environment).
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error {
		if rt == nil {
			return fmt.Errorf("%w: WithTransport: nil round tripper", ErrInvalidOption)
		}
		o.transport = rt
		return nil
	}
}

// WithUserAgent sets the User-Agent product token sent to registries
// (go-containerregistry appends its own). The default is "stevedore".
func WithUserAgent(s string) Option {
	return func(o *options) error {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%w: WithUserAgent: needs a non-empty string", ErrInvalidOption)
		}
		o.userAgent = s
		return nil
	}
}

// WithPlatform picks the image [Pull] returns when the reference names an
// index: "os/arch" or "os/arch/variant", for example "linux/arm64". An
// entry matches when its platform has what platform names (linux/arm64
// takes linux/arm64/v8), or is platform once both are normalized as
// containerd does (linux/arm64/v8 and linux/aarch64 take linux/arm64). An
// index without that platform is an error listing the platforms it has.
// [PullAny] returns an index whole and ignores it. The default is
// "linux/amd64" ([DefaultPlatform]).
func WithPlatform(platform string) Option {
	return func(o *options) error {
		p, err := v1.ParsePlatform(platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("%w: WithPlatform: %q is not os/arch[/variant]", ErrInvalidOption, platform)
		}
		o.platform = *p
		return nil
	}
}

// WithProgress calls f as a push goes: bytes sent per blob and overall, and
// an event when a blob is skipped (already there), mounted, uploaded, and
// when a manifest is pushed. Calls are serialized and must return quickly;
// see package progressbar for a terminal renderer. [Pull] does not report
// progress: its layers are read lazily by the caller. The default is no
// progress reporting.
func WithProgress(f func(Progress)) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: WithProgress: nil function", ErrInvalidOption)
		}
		o.progress = f
		return nil
	}
}

// WithJobs sets how many blobs are uploaded at once. The default is 4
// ([DefaultJobs]).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: WithJobs: %d jobs, need at least 1", ErrInvalidOption, n)
		}
		o.jobs = n
		return nil
	}
}

// WithRetries sets how many times a failed request is retried: a
// connection reset or cut short, a timeout, or HTTP 408, 429, 500, 502,
// 503 or 504. Retries come with exponential backoff and jitter, starting
// at 200ms and at most 10s apart, never sooner than a Retry-After header
// asks. A blob upload is retried as a whole (existence check, start,
// data, commit); its existence check and start are also retried on their
// own, up to 3 times. Other answers (401, 403, 404, 501, 507, ...) and
// invalid manifests fail at once. 0 disables retries. The default is 5
// ([DefaultRetries]).
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 || n > 100 {
			return fmt.Errorf("%w: WithRetries: %d retries, want 0 to 100", ErrInvalidOption, n)
		}
		o.retries = n
		return nil
	}
}

// withBackoff sets the first and the largest retry delay (tests).
func withBackoff(first, max time.Duration) Option {
	return func(o *options) error {
		o.backoff, o.maxBackoff = first, max
		return nil
	}
}
