package registrytest

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Kind classifies a request to the registry, for counters ([Stats]) and
// for restricting faults ([Fault.On]).
type Kind string

// The kinds of requests a registry sees.
const (
	KindPing     Kind = "ping"     // GET /v2/
	KindManifest Kind = "manifest" // /v2/<repo>/manifests/<ref>
	KindBlob     Kind = "blob"     // GET or HEAD /v2/<repo>/blobs/<digest>
	KindUpload   Kind = "upload"   // /v2/<repo>/blobs/uploads/...
	KindToken    Kind = "token"    // the token endpoint of WithTokenAuth
	KindOther    Kind = "other"    // tags lists, referrers, anything else
)

type faultKind int

const (
	faultFail faultKind = iota + 1
	faultReset
	faultDelay
	faultRefuseMount
)

// Fault is one kind of misbehaviour injected by [WithFaults]. Build one with
// [FailEvery], [FailFirst], [FailRate], [ResetEvery], [ResetRate], [Delay]
// or [RefuseMounts], then narrow it with [Fault.On] or extend it with
// [Fault.RetryAfter].
type Fault struct {
	kind       faultKind
	every      int
	first      int
	rate       float64
	status     int
	delay      time.Duration
	retryAfter time.Duration
	kinds      []Kind
}

// FailEvery answers every nth matching request with the HTTP status (for
// example 500, 503 or 429) instead of handling it. Failures carry the
// distribution error code of their status, as a registry's do:
// TOOMANYREQUESTS (429), UNAVAILABLE (503), DENIED (403), UNAUTHORIZED
// (401), else UNKNOWN.
func FailEvery(n, status int) Fault {
	return Fault{kind: faultFail, every: n, status: status}
}

// FailFirst answers the first n matching requests with the HTTP status and
// handles the rest normally.
func FailFirst(n, status int) Fault {
	return Fault{kind: faultFail, first: n, status: status}
}

// FailRate answers each matching request with probability p with the HTTP
// status, drawing from the server's seeded generator ([WithSeed]).
func FailRate(p float64, status int) Fault {
	return Fault{kind: faultFail, rate: p, status: status}
}

// ResetEvery drops the connection of every nth matching request without an
// answer (a TCP reset: the client sees "connection reset by peer" or EOF).
func ResetEvery(n int) Fault {
	return Fault{kind: faultReset, every: n}
}

// ResetRate drops the connection of each matching request with probability
// p, drawing from the server's seeded generator ([WithSeed]).
func ResetRate(p float64) Fault {
	return Fault{kind: faultReset, rate: p}
}

// Delay holds every matching request for d before handling it (or until
// the client gives up, or the server is closed).
func Delay(d time.Duration) Fault {
	return Fault{kind: faultDelay, every: 1, delay: d}
}

// RefuseMounts makes the server ignore cross-repository mount requests
// (POST .../blobs/uploads/?mount=...&from=...) and start a normal upload
// instead, as Docker Distribution does when the source repository is not
// readable with the client's credentials. Clients must then upload the blob.
func RefuseMounts() Fault {
	return Fault{kind: faultRefuseMount, every: 1}
}

// On restricts the fault to requests of the given kinds. Without it a fault
// applies to every request, the token endpoint included.
func (f Fault) On(kinds ...Kind) Fault {
	f.kinds = append(slices.Clone(f.kinds), kinds...)
	return f
}

// RetryAfter adds a `Retry-After` header of d (rounded up to whole
// seconds, as the header counts seconds) to the answers of a failing fault.
func (f Fault) RetryAfter(d time.Duration) Fault {
	f.retryAfter = d
	return f
}

func (f Fault) validate() error {
	switch f.kind {
	case faultFail:
		if f.status < 400 || f.status > 599 {
			return fmt.Errorf("%w: WithFaults: fault status %d is not an HTTP error status", ErrInvalidOption, f.status)
		}
	case faultReset, faultDelay, faultRefuseMount:
	default:
		return fmt.Errorf("%w: WithFaults: zero Fault (use FailEvery, FailRate, ResetEvery, ...)", ErrInvalidOption)
	}
	if f.every < 0 || f.first < 0 || f.rate < 0 || f.rate > 1 {
		return fmt.Errorf("%w: WithFaults: fault with bad count or rate (every %d, first %d, rate %g)", ErrInvalidOption, f.every, f.first, f.rate)
	}
	if f.every == 0 && f.first == 0 && f.rate == 0 {
		return fmt.Errorf("%w: WithFaults: fault never fires (count or rate is zero)", ErrInvalidOption)
	}
	return nil
}

func (f Fault) matches(k Kind) bool {
	return len(f.kinds) == 0 || slices.Contains(f.kinds, k)
}

// fires reports whether the fault hits the nth matching request (n counts
// from 1). s.mu is held.
func (s *Server) fires(i int, n int) bool {
	f := s.opts.faults[i]
	switch {
	case f.every > 0:
		return n%f.every == 0
	case f.first > 0:
		return n <= f.first
	default:
		return s.rng.Float64() < f.rate
	}
}

// injectFaults applies the configured faults to a request. It reports
// whether the request was answered (or its connection dropped) and must not
// be handled further, and whether a mount must be refused.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, k Kind) (handled, refuseMount bool) {
	var hits []Fault
	s.mu.Lock()
	for i, f := range s.opts.faults {
		if !f.matches(k) {
			continue
		}
		if f.kind == faultRefuseMount {
			refuseMount = true
			continue
		}
		s.faultSeen[i]++
		if s.fires(i, s.faultSeen[i]) {
			hits = append(hits, f)
		}
	}
	s.mu.Unlock()

	for _, f := range hits {
		switch f.kind {
		case faultDelay:
			t := time.NewTimer(f.delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			case <-s.closing:
				t.Stop()
			}
		case faultFail:
			s.count(func(st *Stats) { st.Faults++ })
			if f.retryAfter > 0 {
				secs := int((f.retryAfter + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			writeError(w, f.status, faultCode(f.status), "registrytest: injected fault")
			return true, refuseMount
		case faultReset:
			s.count(func(st *Stats) { st.Faults++ })
			reset(w)
			return true, refuseMount
		}
	}
	return false, refuseMount
}

// reset drops the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := underlyingTCP(conn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func underlyingTCP(c net.Conn) (*net.TCPConn, bool) {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc, true
	}
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok { // *tls.Conn
		tc, ok := nc.NetConn().(*net.TCPConn)
		return tc, ok
	}
	return nil, false
}

// faultCode is the distribution error code a registry answers with
// status: what clients read to tell a refusal from a transient failure.
func faultCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	}
	return "UNKNOWN"
}
