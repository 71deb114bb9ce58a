package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// retryStatuses are the HTTP answers worth another try, for every retry
// of a call (single requests, whole uploads, go-containerregistry's
// transport): a timeout, too many requests, and the server failures that
// pass. Other 5xx answers do not change in a backoff's time: 501 and 505
// say what the server cannot do, 507 that it is out of storage, 508, 510
// and 511 that it is set up so.
var retryStatuses = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// retryableStatus reports whether an answer with this status is worth
// another try (see retryStatuses).
func retryableStatus(code int) bool {
	return slices.Contains(retryStatuses, code)
}

// retrier decides, for go-containerregistry's retry loops, whether an
// error is worth another try. It never sleeps itself: it sets the call's
// gate, which holds the next request back, so a cancelled context ends
// the wait at once. go-containerregistry's own backoff is set to zero.
type retrier struct {
	ctx        context.Context
	gate       *gate
	first, max time.Duration

	mu     sync.Mutex
	streak int // consecutive failures in this call
}

func (r *retrier) retry(err error) bool {
	if err == nil {
		r.mu.Lock()
		r.streak = 0
		r.mu.Unlock()
		return false
	}
	if r.ctx.Err() != nil || !retryable(err) {
		return false
	}
	r.failed()
	return true
}

// failed counts a failure and holds the next request back for a backoff
// that doubles with each consecutive failure of the call.
func (r *retrier) failed() {
	r.mu.Lock()
	r.streak++
	n := r.streak
	r.mu.Unlock()
	d := r.first
	for i := 1; i < n && d < r.max; i++ {
		d *= 2
	}
	d = min(d, r.max)
	// Full jitter around d: between d/2 and 3d/2.
	d = d/2 + rand.N(d+1)
	r.gate.delay(d)
}

// maxInnerRetries bounds the retries of single requests (see repeatable),
// which run inside go-containerregistry's retries of whole uploads.
const maxInnerRetries = 3

// repeatable reports whether a request is retried on its own by
// callTransport: the blob existence check and the start of an upload.
// They have no body and repeating them is harmless, and go-containerregistry
// only retries them as part of a whole upload (HEAD, POST, PATCH, PUT), in
// which every request is a chance to fail: with 10% of requests failing,
// a third of upload attempts would fail. PATCH and PUT are not repeated
// here: after a lost answer the upload session's state is unknown.
func repeatable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	p := r.URL.Path
	switch r.Method {
	case http.MethodHead:
		return strings.Contains(p, "/blobs/sha256:")
	case http.MethodPost:
		return strings.HasSuffix(p, "/blobs/uploads/")
	}
	return false
}

// backoff is go-containerregistry's backoff for n retries: attempts only,
// no sleeping (the gate does that).
func backoff(n int) remote.Backoff {
	return remote.Backoff{Duration: 0, Factor: 1, Steps: n + 1}
}

// retryable reports whether err is a transient failure: a connection reset
// or cut short, a timeout, or an answer of retryStatuses.
func retryable(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return retryableStatus(terr.StatusCode)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}
