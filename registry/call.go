package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// call holds what one Pull, PullIndex, Push or PushIndex shares: options,
// context, retry state and the transport under go-containerregistry's.
type call struct {
	ctx     context.Context
	o       *options
	gate    *gate
	retrier *retrier
	tr      *callTransport
	keys    *keychainRecorder // nil with WithBasicAuth or WithBearerToken
	rep     *reporter         // nil unless pushing with WithProgress
}

func newCall(ctx context.Context, opts []Option) (*call, error) {
	if ctx == nil {
		return nil, fmt.Errorf("registry: nil context")
	}
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	g := &gate{}
	inner := o.transport
	if inner == nil {
		inner = defaultTransport
		if o.insecure {
			inner = insecureTransport
		}
	}
	rt := &retrier{ctx: ctx, gate: g, first: o.backoff, max: o.maxBackoff}
	c := &call{
		ctx:     ctx,
		o:       o,
		gate:    g,
		retrier: rt,
		tr:      &callTransport{inner: inner, insecure: o.insecure, gate: g, retrier: rt, retries: o.retries},
	}
	if o.auth == nil {
		c.keys = &keychainRecorder{inner: o.keychain}
	}
	return c, nil
}

// begin starts a call on ref: its options and the parsed reference.
func begin(ctx context.Context, ref string, opts []Option) (*call, name.Reference, error) {
	c, err := newCall(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.parse(ref)
	if err != nil {
		return nil, nil, err
	}
	return c, r, nil
}

// parse reads a reference; a name without a tag means :latest.
func (c *call) parse(ref string) (name.Reference, error) {
	var nopts []name.Option
	if c.o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("registry: reference %q: %w", ref, err)
	}
	if !c.o.insecure && isLoopbackRegistry(r.Context().RegistryStr()) {
		// Let go-containerregistry fall back to HTTP for all of
		// 127.0.0.0/8, not only 127.0.0.1 (HTTPS is still tried first).
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// remoteOptions are the go-containerregistry options of this call.
func (c *call) remoteOptions() []remote.Option {
	opts := []remote.Option{
		remote.WithContext(c.ctx),
		remote.WithTransport(http.RoundTripper(c.tr)),
		remote.WithUserAgent(c.o.userAgent),
		remote.WithJobs(c.o.jobs),
		remote.WithPlatform(c.o.platform),
		remote.WithRetryBackoff(backoff(c.o.retries)),
		remote.WithRetryPredicate(c.retrier.retry),
		remote.WithRetryStatusCodes(retryStatuses...),
	}
	if c.o.auth != nil {
		opts = append(opts, remote.WithAuth(c.o.auth))
	} else {
		opts = append(opts, remote.WithAuthFromKeychain(c.keys))
	}
	return opts
}
