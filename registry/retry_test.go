package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestPushThroughFaults(t *testing.T) {
	s := registrytest.New(t, registrytest.WithSeed(7), registrytest.WithFaults(
		registrytest.FailRate(0.10, http.StatusServiceUnavailable),
		registrytest.ResetRate(0.10),
		registrytest.Delay(2*time.Millisecond).On(registrytest.KindUpload),
	))
	ctx := ctxT(t)
	img := randomImage(t, 5, 20_000)
	want := digest(t, img)
	// STEVEDORE_FAULT_PUSHES raises the count for a longer run.
	pushes := 5
	if v, err := strconv.Atoi(os.Getenv("STEVEDORE_FAULT_PUSHES")); err == nil && v > 0 {
		pushes = v
	}
	for i := range pushes {
		ref := s.Ref(fmt.Sprintf("app%d:v1", i))
		d, err := Push(ctx, ref, img, fast, WithRetries(8))
		require.NoError(t, err, "push %d: Push(%s)", i, ref)
		require.Equal(t, want.String(), d.DigestStr(), "push %d: Push(%s)", i, ref)
	}
	st := s.Stats()
	require.NotZero(t, st.Faults, "no fault was injected (stats %+v): the test proves nothing", st)
	t.Logf("%d pushes through %d injected faults (%d requests)", pushes, st.Faults, total(st.Requests))
	// What is stored reads back intact: copied to a registry without
	// faults, and validated there (which reads every blob).
	clean := registrytest.New(t)
	pulled, err := Pull(ctx, s.Ref("app0:v1"), fast, WithRetries(20))
	require.NoError(t, err)
	_, err = Push(ctx, clean.Ref("copy:a"), pulled, fast, WithRetries(20))
	require.NoError(t, err)
	copied, err := Pull(ctx, clean.Ref("copy:a"))
	require.NoError(t, err)
	validImage(t, copied)
	assert.Equal(t, want, digest(t, copied), "copied digest")
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      registrytest.Fault
		minElapsed time.Duration
		maxElapsed time.Duration
	}{
		{"429 with Retry-After", registrytest.FailFirst(1, http.StatusTooManyRequests).RetryAfter(time.Second).On(registrytest.KindManifest), time.Second, 5 * time.Second},
		{"503 with Retry-After", registrytest.FailFirst(1, http.StatusServiceUnavailable).RetryAfter(time.Second).On(registrytest.KindManifest), time.Second, 5 * time.Second},
		// Without the header the retry comes after the (tiny) backoff.
		{"429 without Retry-After", registrytest.FailFirst(1, http.StatusTooManyRequests).On(registrytest.KindManifest), 0, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			s := registrytest.New(t, registrytest.WithFaults(tc.fault))
			_, err := s.SeedImage(ctx, "app:v1")
			require.NoError(t, err)
			start := time.Now()
			_, err = Pull(ctx, s.Ref("app:v1"), fast)
			require.NoError(t, err, "Pull")
			elapsed := time.Since(start)
			assert.GreaterOrEqual(t, elapsed, tc.minElapsed, "Pull took")
			assert.LessOrEqual(t, elapsed, tc.maxElapsed, "Pull took")
			st := s.Stats()
			assert.Equal(t, 1, st.Faults, "faults")
			assert.Equal(t, 2, st.Requests["GET manifest"], "manifest GETs")
		})
	}
}

func TestNonRetryableFailsAtOnce(t *testing.T) {
	for _, status := range []int{
		http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusInsufficientStorage,
		http.StatusNetworkAuthenticationRequired,
	} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := registrytest.New(t, registrytest.WithFaults(registrytest.FailEvery(1, status).On(registrytest.KindManifest)))
			_, err := Push(ctxT(t), s.Ref("app:v1"), randomImage(t, 1, 100), fast)
			require.Error(t, err, "Push through %d answers", status)
			st := s.Stats()
			assert.LessOrEqual(t, st.Requests["HEAD manifest"]+st.Requests["PUT manifest"], 2,
				"Push through %d answers: manifest requests (%v), want no retries", status, st.Requests)

			// Uploads, which are retried as a whole, are not retried.
			s = registrytest.New(t, registrytest.WithFaults(registrytest.FailEvery(1, status).On(registrytest.KindUpload)))
			_, err = Push(ctxT(t), s.Ref("app:v1"), randomImage(t, 1, 100), fast, WithJobs(1))
			require.Error(t, err, "Push through %d answers to uploads", status)
			assert.Equal(t, 1, s.Stats().Requests["POST upload"],
				"Push through %d answers to uploads: upload starts (%v), want no retries", status, s.Stats().Requests)
		})
	}
	// A missing image is not retried either, and says so.
	s := registrytest.New(t)
	_, err := Pull(ctxT(t), s.Ref("nothere:v1"), fast)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothere")
	assert.Equal(t, 1, s.Stats().Requests["GET manifest"], "Pull(missing): manifest GETs")
}

func TestRetriesGiveUp(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := registrytest.New(t, registrytest.WithFaults(registrytest.FailEvery(1, status).On(registrytest.KindManifest)))
			_, err := Pull(ctxT(t), s.Ref("app:v1"), fast, WithRetries(3))
			require.Error(t, err)
			assert.Contains(t, err.Error(), strconv.Itoa(status))
			assert.Equal(t, 4, s.Stats().Requests["GET manifest"], "WithRetries(3): manifest GETs")
		})
	}
}

// TestRetryableStatus checks the one table of retryable statuses against
// the list WithRetries documents, for every status, through both ways a
// status reaches it (an answer, and go-containerregistry's error).
func TestRetryableStatus(t *testing.T) {
	documented := map[int]bool{408: true, 429: true, 500: true, 502: true, 503: true, 504: true}
	for code := 100; code <= 599; code++ {
		want := documented[code]
		assert.Equal(t, want, retryableStatus(code), "retryableStatus(%d)", code)
		assert.Equal(t, want, retryable(&transport.Error{StatusCode: code}), "retryable(HTTP %d)", code)
		assert.Equal(t, want, retryable(fmt.Errorf("wrapped: %w", &transport.Error{StatusCode: code})), "retryable(wrapped HTTP %d)", code)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{"0", 0, true},
		{" 1 ", time.Second, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"100000", maxRetryAfter, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		assert.Equal(t, tc.want, got, "parseRetryAfter(%q)", tc.in)
		assert.Equal(t, tc.ok, ok, "parseRetryAfter(%q) ok", tc.in)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("boom"), false},
		{ErrPlainHTTP, false},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
	} {
		assert.Equal(t, tc.want, retryable(tc.err), "retryable(%v)", tc.err)
	}
}

func TestRepeatable(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		body         bool
		want         bool
	}{
		{"HEAD", "/v2/app/blobs/sha256:abc", false, true},
		{"POST", "/v2/app/blobs/uploads/", false, true},
		{"POST", "/v2/app/blobs/uploads/", true, false},
		{"PATCH", "/v2/app/blobs/uploads/123", true, false},
		{"PUT", "/v2/app/blobs/uploads/123", false, false},
		{"PUT", "/v2/app/manifests/v1", true, false},
		{"GET", "/v2/app/manifests/v1", false, false}, // go-containerregistry retries these itself
	} {
		var body io.Reader
		if tc.body {
			body = strings.NewReader("x")
		}
		r, err := http.NewRequest(tc.method, "http://h"+tc.path, body)
		require.NoError(t, err)
		assert.Equal(t, tc.want, repeatable(r), "repeatable(%s %s, body %v)", tc.method, tc.path, tc.body)
	}
}
