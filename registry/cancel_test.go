package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestCancelledPushReturnsPromptly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tc := range []struct {
		name   string
		faults []registrytest.Fault
		after  time.Duration
	}{
		// Uploads hang in the server: cancelled mid-request.
		{"during upload", []registrytest.Fault{registrytest.Delay(time.Minute).On(registrytest.KindUpload)}, 300 * time.Millisecond},
		// The server fails with a long Retry-After: cancelled while waiting.
		{"during Retry-After", []registrytest.Fault{registrytest.FailEvery(1, http.StatusTooManyRequests).RetryAfter(time.Minute).On(registrytest.KindUpload)}, 300 * time.Millisecond},
		// Before anything happens.
		{"before start", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := registrytest.Start(registrytest.WithFaults(tc.faults...))
			require.NoError(t, err)
			tr := s.Transport()
			img := randomImage(t, 4, 256<<10)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.after == 0 {
				cancel()
			} else {
				time.AfterFunc(tc.after, cancel)
			}
			start := time.Now()
			_, err = Push(ctx, s.Ref("app:v1"), img, WithTransport(tr))
			returned := time.Since(start) - tc.after
			cancel()
			if assert.ErrorIs(t, err, context.Canceled, "Push after cancel") {
				assert.Contains(t, err.Error(), s.Ref("app:v1"), "Push after cancel: the reference named")
			}
			assert.LessOrEqual(t, returned, time.Second, "Push returned after the cancel")
			t.Logf("returned %v after cancel", returned.Round(time.Millisecond))
			tr.CloseIdleConnections()
			s.Close()
		})
	}
}

// TestConcurrentPushes runs pushes of the same image to one repository in
// parallel (run with -race).
func TestConcurrentPushes(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 4096)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Push(ctx, s.Ref("app:v1"), img, WithProgress(func(Progress) {}))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "push %d", i)
	}
}

// TestCancelAfterNBytes cancels pushes at many points of the upload, from
// the progress callback, and checks each returns context.Canceled, leaks
// nothing, and that the next push completes with the same digest.
func TestCancelAfterNBytes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := registrytest.Start()
	require.NoError(t, err)
	tr := s.Transport()
	img := randomImage(t, 4, 64<<10)
	want := digest(t, img)
	cancelledPushes := 0
	for i, n := range []int64{1, 10_000, 70_000, 140_000, 200_000, 260_000} {
		ref := s.Ref(fmt.Sprintf("app%d:v1", i))
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		var cancelled time.Time
		_, err := Push(ctx, ref, img, WithTransport(tr), WithProgress(func(p Progress) {
			if p.OverallDone >= n {
				once.Do(func() { cancelled = time.Now(); cancel() })
			}
		}))
		cancel()
		require.False(t, cancelled.IsZero(), "n=%d: the push finished before %d bytes", n, n)
		if errors.Is(err, context.Canceled) {
			cancelledPushes++
		} else {
			// The last bytes may race with the cancel: a push that
			// completed anyway must have succeeded.
			assert.NoError(t, err, "n=%d: Push, want context.Canceled or success", n)
		}
		assert.LessOrEqual(t, time.Since(cancelled), time.Second, "n=%d: Push returned after the cancel", n)
		d, err := Push(context.Background(), ref, img, WithTransport(tr))
		if assert.NoError(t, err, "n=%d: push after a cancelled one", n) {
			assert.Equal(t, want.String(), d.DigestStr(), "n=%d: push after a cancelled one", n)
		}
	}
	assert.GreaterOrEqual(t, cancelledPushes, 5, "pushes of 6 cancelled")
	tr.CloseIdleConnections()
	s.Close()
}
