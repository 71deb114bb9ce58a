package registry

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// watchedLayer reports when its compressed stream is first opened, and
// can fail its first opens: half-way through the blob, after release is
// closed when it is set.
type watchedLayer struct {
	v1.Layer
	opened   chan struct{} // closed at the first Compressed call
	once     sync.Once
	failures atomic.Int32  // Compressed calls still to fail
	release  chan struct{} // when set, a failing read waits for it
}

func watch(l v1.Layer) *watchedLayer {
	return &watchedLayer{Layer: l, opened: make(chan struct{})}
}

func (l *watchedLayer) Compressed() (io.ReadCloser, error) {
	l.once.Do(func() { close(l.opened) })
	rc, err := l.Layer.Compressed()
	if err != nil || l.failures.Add(-1) < 0 {
		return rc, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	return &failingReader{rc: rc, left: size / 2, release: l.release}, nil
}

// failingReader reads left bytes of rc, then fails (once release is
// closed, when set).
type failingReader struct {
	rc      io.ReadCloser
	left    int64
	release chan struct{}
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		if r.release != nil {
			<-r.release
		}
		return 0, errors.New("watchedLayer: failing on purpose")
	}
	n, err := r.rc.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	return n, err
}

func (r *failingReader) Close() error { return r.rc.Close() }

// waitOpened waits until l's blob is being read, or ctx ends.
func waitOpened(ctx context.Context, t *testing.T, l *watchedLayer) {
	t.Helper()
	select {
	case <-l.opened:
	case <-ctx.Done():
		require.FailNow(t, "the upload did not start", "%v", ctx.Err())
	}
}

// pushCase is a registry, an image of random layers, and a Pusher to
// app:v1 there (closed when the test ends).
type pushCase struct {
	s      *registrytest.Server
	ctx    context.Context
	img    v1.Image
	layers []v1.Layer
	p      *Pusher
}

func newPushCase(t *testing.T, layers int, size int64, opts ...Option) *pushCase {
	t.Helper()
	c := &pushCase{s: registrytest.New(t), ctx: ctxT(t), img: randomImage(t, layers, size)}
	var err error
	c.layers, err = c.img.Layers()
	require.NoError(t, err)
	c.p, err = NewPusher(c.ctx, c.s.Ref("app:v1"), opts...)
	require.NoError(t, err)
	t.Cleanup(c.p.Close)
	return c
}

func TestPusherUploadsBeforePush(t *testing.T) {
	c := newPushCase(t, 3, 4096)
	watched := make([]*watchedLayer, len(c.layers))
	for i, l := range c.layers {
		watched[i] = watch(l)
		c.p.Upload(watched[i])
		c.p.Upload(watched[i]) // a second hand-over of the same blob is ignored
	}
	// Every upload starts before Push is called.
	for _, w := range watched {
		waitOpened(c.ctx, t, w)
	}
	d, err := c.p.Push(c.img)
	require.NoError(t, err)
	assert.Equal(t, digest(t, c.img).String(), d.DigestStr())

	// Each blob was sent once: the early uploads, then the config; one
	// ping, and Push asked the registry only about the config.
	st := c.s.Stats()
	assert.Equal(t, 4, st.BlobUploads, "BlobUploads: 3 layers + config, none twice")
	assert.Equal(t, 4, st.Requests["HEAD blob"], "HEAD blob: one per blob")
	assert.Equal(t, 1, st.Requests["GET ping"], "one ping for uploads and push")
	pulled, err := Pull(c.ctx, c.s.Ref("app:v1"))
	require.NoError(t, err)
	validImage(t, pulled)
	assert.Equal(t, digest(t, c.img), digest(t, pulled))
}

func TestPusherFailedUploadIsRetriedByPush(t *testing.T) {
	for _, inFlight := range []bool{false, true} {
		var mu sync.Mutex
		var events []Progress
		c := newPushCase(t, 2, 64<<10, WithRetries(0), WithProgress(func(pr Progress) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, pr)
		}))
		bad := watch(c.layers[0])
		bad.failures.Store(1) // the early upload fails half-way
		if inFlight {
			bad.release = make(chan struct{}) // ... once Push has been called
		}
		c.p.Upload(bad)
		waitOpened(c.ctx, t, bad)

		done := make(chan error, 1)
		go func() {
			_, err := c.p.Push(c.img)
			done <- err
		}()
		if inFlight {
			time.Sleep(100 * time.Millisecond) // let Push start; it must wait
			close(bad.release)
		}
		require.NoError(t, <-done, "in flight %v: Push sends what the early upload could not", inFlight)
		assert.Equal(t, 3, c.s.Stats().BlobUploads, "in flight %v: 2 layers + config", inFlight)

		mu.Lock()
		for _, e := range events {
			assert.LessOrEqual(t, e.Done, e.Total, "in flight %v: %s %s: bytes of the failed upload counted once", inFlight, e.Event, e.Digest)
			assert.LessOrEqual(t, e.OverallDone, e.OverallTotal, "in flight %v: overall", inFlight)
		}
		last := events[len(events)-1]
		assert.Equal(t, last.OverallTotal, last.OverallDone, "in flight %v: all bytes counted", inFlight)
		mu.Unlock()
	}
}

func TestPusherUploadsCountInProgress(t *testing.T) {
	var mu sync.Mutex
	var events []Progress
	c := newPushCase(t, 2, 8192, WithProgress(func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, pr)
	}))
	w := watch(c.layers[0])
	c.p.Upload(w)
	waitOpened(c.ctx, t, w)
	_, err := c.p.Push(c.img)
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	finals := map[v1.Hash]Event{}
	for _, e := range events {
		if e.Event == EventUploaded || e.Event == EventSkipped || e.Event == EventMounted {
			_, seen := finals[e.Digest]
			assert.False(t, seen, "blob %s finished twice", e.Digest)
			finals[e.Digest] = e.Event
		}
	}
	cfg, err := c.img.ConfigName()
	require.NoError(t, err)
	for _, h := range []v1.Hash{digest(t, c.layers[0]), digest(t, c.layers[1]), cfg} {
		assert.Equal(t, EventUploaded, finals[h], "blob %s", h)
	}
	last := events[len(events)-1]
	assert.Equal(t, EventManifest, last.Event)
	assert.Equal(t, last.OverallTotal, last.OverallDone, "all bytes counted once")
	var total int64
	for _, l := range c.layers {
		n, err := l.Size()
		require.NoError(t, err)
		total += n
	}
	cfgSize := int64(len(must(t, c.img.RawConfigFile)))
	assert.Equal(t, total+cfgSize, last.OverallTotal)
}

func must(t *testing.T, f func() ([]byte, error)) []byte {
	t.Helper()
	b, err := f()
	require.NoError(t, err)
	return b
}

// blockingLayer's blob sends 16 bytes, then nothing until done is
// closed, as a slow source that stops when its context is done (a layer
// read that blocks and ignores every context cannot be stopped by anyone:
// net/http waits for the body read to return).
type blockingLayer struct {
	v1.Layer
	opened chan struct{}
	done   <-chan struct{}
}

func (l *blockingLayer) Compressed() (io.ReadCloser, error) {
	close(l.opened)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(make([]byte, 16))
		<-l.done
		pw.CloseWithError(errors.New("blockingLayer: stopped"))
	}()
	return pr, nil
}

func TestPusherCloseStopsUploads(t *testing.T) {
	c := newPushCase(t, 1, 1024)
	l := &blockingLayer{Layer: c.layers[0], opened: make(chan struct{}), done: c.p.c.ctx.Done()}
	c.p.Upload(l)
	select {
	case <-l.opened:
	case <-c.ctx.Done():
		require.FailNow(t, "the upload did not start")
	}
	c.p.Close() // returns: the hung upload was stopped
	c.p.Close()
	c.p.Upload(c.layers[0]) // ignored after Close

	_, err := c.p.Push(c.img)
	assert.ErrorIs(t, err, errPushed)
	assert.Equal(t, 0, c.s.Stats().BlobUploads)
}

func TestPusherPushesOnce(t *testing.T) {
	c := newPushCase(t, 1, 1024)
	_, err := c.p.Push(c.img)
	require.NoError(t, err)
	_, err = c.p.Push(c.img)
	assert.ErrorIs(t, err, errPushed)
	_, err = c.p.PushIndex(nil)
	assert.ErrorContains(t, err, "nil index")
	c.p.Close() // after Push: nothing to do
}

func TestPusherCancelledContext(t *testing.T) {
	s := registrytest.New(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	img := randomImage(t, 1, 1024)
	p, err := NewPusher(ctx, s.Ref("app:v1"))
	require.NoError(t, err)
	defer p.Close()
	cancel()
	ls, err := img.Layers()
	require.NoError(t, err)
	p.Upload(ls[0])
	_, err = p.Push(img)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestNewPusherErrors(t *testing.T) {
	//nolint:staticcheck // a nil context on purpose
	_, err := NewPusher(nil, "localhost/x:y")
	assert.ErrorContains(t, err, "nil context")
	_, err = NewPusher(context.Background(), "Not A Reference")
	assert.ErrorContains(t, err, `reference "Not A Reference"`)
	_, err = NewPusher(context.Background(), "localhost/x:y", WithJobs(0))
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestPusherPushIndexAfterUploads(t *testing.T) {
	var mu sync.Mutex
	var events []Progress
	s := registrytest.New(t)
	ctx := ctxT(t)
	imgs := []v1.Image{randomImage(t, 2, 4096), randomImage(t, 1, 8192)}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img})
	}
	p, err := NewPusher(ctx, s.Ref("app:v1"), WithProgress(func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, pr)
	}))
	require.NoError(t, err)
	defer p.Close()
	blobs := 0
	for _, img := range imgs {
		ls, err := img.Layers()
		require.NoError(t, err)
		p.Upload(ls[0]) // the first layer of each image, early
		blobs += len(ls) + 1
	}
	d, err := p.PushIndex(idx)
	require.NoError(t, err)
	assert.Equal(t, digest(t, idx).String(), d.DigestStr())
	assert.Equal(t, blobs, s.Stats().BlobUploads, "every layer and config once")

	mu.Lock()
	defer mu.Unlock()
	finished := map[v1.Hash]int{}
	for _, e := range events {
		if e.Event == EventUploaded {
			finished[e.Digest]++
		}
	}
	assert.Len(t, finished, blobs, "blobs reported uploaded")
	for h, n := range finished {
		assert.Equal(t, 1, n, "blob %s reported uploaded once", h)
	}
	last := events[len(events)-1]
	assert.Equal(t, last.OverallTotal, last.OverallDone, "all bytes counted once")
	pulled, err := PullIndex(ctx, s.Ref("app:v1"))
	require.NoError(t, err)
	assert.Equal(t, digest(t, idx), digest(t, pulled))
}
