package registrytest

import "fmt"

// Option configures a [Server] made by [New] or [Start].
type Option func(*options) error

type options struct {
	basicUser, basicPass string
	tokenUser, tokenPass string
	tls                  bool
	faults               []Fault
	seed                 int64
}

func defaultOptions() *options {
	return &options{seed: 1}
}

// WithBasicAuth makes the server demand HTTP basic authentication with the
// given user and password on every request, answering others with 401 and
// `WWW-Authenticate: Basic realm="registrytest"`, as Docker Distribution
// does in its htpasswd mode. It cannot be combined with [WithTokenAuth].
// The default is no authentication.
func WithBasicAuth(user, pass string) Option {
	return withCredentials("WithBasicAuth", user, pass, func(o *options) { o.basicUser, o.basicPass = user, pass })
}

// WithTokenAuth makes the server use the bearer-token flow of hosted
// registries: requests without a valid token get 401 with
// `WWW-Authenticate: Bearer realm=".../token",service="registrytest",scope="..."`;
// the token endpoint at /token checks user and password (HTTP basic) and
// issues a token valid for the requested scopes only, which every later
// request is checked against (pull for GET and HEAD, push for the rest).
// It cannot be combined with [WithBasicAuth]. The default is no
// authentication.
func WithTokenAuth(user, pass string) Option {
	return withCredentials("WithTokenAuth", user, pass, func(o *options) { o.tokenUser, o.tokenPass = user, pass })
}

// withCredentials is the option named name that stores user and pass with
// set, refusing an empty one.
func withCredentials(name, user, pass string, set func(*options)) Option {
	return func(o *options) error {
		if user == "" || pass == "" {
			return fmt.Errorf("%w: %s: needs a user and a password", ErrInvalidOption, name)
		}
		set(o)
		return nil
	}
}

// WithTLS serves HTTPS with a fresh self-signed certificate valid for
// 127.0.0.1, ::1 and localhost. Clients trust it through
// [Server.CertPool] or [Server.Transport]. The default is plain HTTP.
func WithTLS() Option {
	return func(o *options) error {
		o.tls = true
		return nil
	}
}

// WithFaults injects the given faults into the server's answers (see
// [FailEvery], [FailFirst], [FailRate], [ResetEvery], [ResetRate],
// [Delay], [RefuseMounts]). Several calls add up. The default is no
// faults.
func WithFaults(faults ...Fault) Option {
	return func(o *options) error {
		for _, f := range faults {
			if err := f.validate(); err != nil {
				return err
			}
		}
		o.faults = append(o.faults, faults...)
		return nil
	}
}

// WithSeed seeds the random number generator behind [FailRate] and
// [ResetRate], so a run's sequence of injected faults can be replayed
// (for a given order of requests). The default is 1.
func WithSeed(seed int64) Option {
	return func(o *options) error {
		o.seed = seed
		return nil
	}
}

func (o *options) validate() error {
	if o.basicUser != "" && o.tokenUser != "" {
		return fmt.Errorf("%w: WithBasicAuth and WithTokenAuth cannot be combined", ErrInvalidOption)
	}
	return nil
}
