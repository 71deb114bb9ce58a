package registry

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// maxRetryAfter bounds how long a Retry-After header can hold a call.
const maxRetryAfter = 2 * time.Minute

var (
	defaultTransport  = remote.DefaultTransport.(*http.Transport).Clone()
	insecureTransport = func() *http.Transport {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // WithInsecure asks for it
		return t
	}()
)

// isLoopback reports whether host (no port) is localhost, in 127.0.0.0/8
// or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// isLoopbackRegistry reports whether a registry ("host" or "host:port",
// as name.Registry's RegistryStr gives it) is on a loopback address: plain
// HTTP is then allowed to it without WithInsecure.
func isLoopbackRegistry(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	return isLoopback(host)
}

// callTransport sits under go-containerregistry's own transports for the
// duration of one call. It refuses plain HTTP to non-loopback hosts, holds
// requests back while a retry delay or a Retry-After is pending, and lets
// the push observe what the registry answered.
type callTransport struct {
	inner    http.RoundTripper
	insecure bool
	gate     *gate
	retrier  *retrier
	retries  int // for repeatable requests
	observe  func(*http.Request, *http.Response)
}

func (t *callTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme == "http" && !t.insecure && !isLoopback(r.URL.Hostname()) {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.Host, ErrPlainHTTP)
	}
	attempts := 1
	if repeatable(r) {
		attempts += min(t.retries, maxInnerRetries)
	}
	for i := 1; ; i++ {
		if err := t.gate.wait(r.Context()); err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, err
		}
		resp, err := t.inner.RoundTrip(r)
		if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
				t.gate.delay(d)
			}
		}
		again := i < attempts && r.Context().Err() == nil &&
			((err != nil && retryable(err)) || (err == nil && retryableStatus(resp.StatusCode)))
		if !again {
			if err != nil {
				return nil, err
			}
			if t.observe != nil {
				t.observe(r, resp)
			}
			return resp, nil
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		t.retrier.failed()
	}
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryAfter), true
}

// gate holds every request of a call until a moment: the end of the
// current retry backoff or of a Retry-After.
type gate struct {
	mu        sync.Mutex
	notBefore time.Time
}

func (g *gate) delay(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.notBefore) {
		g.notBefore = t
	}
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.notBefore)
	g.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
