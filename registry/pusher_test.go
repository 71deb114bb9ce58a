package registry

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// watchedLayer reports when its compressed stream is first opened, and
// can fail its first opens.
type watchedLayer struct {
	v1.Layer
	opened   chan struct{} // closed at the first Compressed call
	once     sync.Once
	failures atomic.Int32 // Compressed calls still to fail
	opens    atomic.Int32
}

func watch(l v1.Layer) *watchedLayer {
	return &watchedLayer{Layer: l, opened: make(chan struct{})}
}

func (l *watchedLayer) Compressed() (io.ReadCloser, error) {
	l.opens.Add(1)
	l.once.Do(func() { close(l.opened) })
	if l.failures.Add(-1) >= 0 {
		return nil, errors.New("watchedLayer: failing on purpose")
	}
	return l.Layer.Compressed()
}

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

	// Each blob was sent once: the early uploads, then the config.
	st := c.s.Stats()
	assert.Equal(t, 4, st.BlobUploads, "BlobUploads: 3 layers + config, none twice")
	for i, w := range watched {
		assert.Equal(t, int32(1), w.opens.Load(), "layer %d read once", i)
	}
	pulled, err := Pull(c.ctx, c.s.Ref("app:v1"))
	require.NoError(t, err)
	validImage(t, pulled)
	assert.Equal(t, digest(t, c.img), digest(t, pulled))
}

func TestPusherFailedUploadIsRetriedByPush(t *testing.T) {
	c := newPushCase(t, 2, 2048, WithRetries(0))
	bad := watch(c.layers[0])
	bad.failures.Store(1) // the early upload fails
	c.p.Upload(bad)
	waitOpened(c.ctx, t, bad)

	_, err := c.p.Push(c.img)
	require.NoError(t, err, "Push sends what the early upload could not")
	assert.Equal(t, 3, c.s.Stats().BlobUploads, "2 layers + config")
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

// blockingLayer's blob never ends until its reader is closed.
type blockingLayer struct {
	v1.Layer
	opened chan struct{}
}

func (l *blockingLayer) Compressed() (io.ReadCloser, error) {
	close(l.opened)
	pr, pw := io.Pipe()
	go func() { _, _ = pw.Write(make([]byte, 16)) }() // then nothing: the upload hangs
	return pr, nil
}

func TestPusherCloseStopsUploads(t *testing.T) {
	c := newPushCase(t, 1, 1024)
	l := &blockingLayer{Layer: c.layers[0], opened: make(chan struct{})}
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
