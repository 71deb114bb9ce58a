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

func TestPusherUploadsBeforePush(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 4096)
	ls, err := img.Layers()
	require.NoError(t, err)
	ref := s.Ref("app:v1")

	p, err := NewPusher(ctx, ref)
	require.NoError(t, err)
	defer p.Close()
	watched := make([]*watchedLayer, len(ls))
	for i, l := range ls {
		watched[i] = watch(l)
		p.Upload(watched[i])
		p.Upload(watched[i]) // a second hand-over of the same blob is ignored
	}
	// Every upload starts before Push is called.
	for _, w := range watched {
		waitOpened(ctx, t, w)
	}
	d, err := p.Push(img)
	require.NoError(t, err)
	assert.Equal(t, digest(t, img).String(), d.DigestStr())

	// Each blob was sent once: the early uploads, then the config.
	st := s.Stats()
	assert.Equal(t, 4, st.BlobUploads, "BlobUploads: 3 layers + config, none twice")
	for i, w := range watched {
		assert.Equal(t, int32(1), w.opens.Load(), "layer %d read once", i)
	}
	pulled, err := Pull(ctx, ref)
	require.NoError(t, err)
	validImage(t, pulled)
	assert.Equal(t, digest(t, img), digest(t, pulled))
}

func TestPusherFailedUploadIsRetriedByPush(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 2, 2048)
	ls, err := img.Layers()
	require.NoError(t, err)

	p, err := NewPusher(ctx, s.Ref("app:v1"), WithRetries(0))
	require.NoError(t, err)
	defer p.Close()
	bad := watch(ls[0])
	bad.failures.Store(1) // the early upload fails
	p.Upload(bad)
	waitOpened(ctx, t, bad)

	_, err = p.Push(img)
	require.NoError(t, err, "Push sends what the early upload could not")
	assert.Equal(t, 3, s.Stats().BlobUploads, "2 layers + config")
	validImage(t, img)
}

func TestPusherUploadsCountInProgress(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 2, 8192)
	ls, err := img.Layers()
	require.NoError(t, err)

	var mu sync.Mutex
	var events []Progress
	p, err := NewPusher(ctx, s.Ref("app:v1"), WithProgress(func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, pr)
	}))
	require.NoError(t, err)
	defer p.Close()
	w := watch(ls[0])
	p.Upload(w)
	waitOpened(ctx, t, w)
	_, err = p.Push(img)
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
	cfg, err := img.ConfigName()
	require.NoError(t, err)
	for _, h := range []v1.Hash{digest(t, ls[0]), digest(t, ls[1]), cfg} {
		assert.Equal(t, EventUploaded, finals[h], "blob %s", h)
	}
	last := events[len(events)-1]
	assert.Equal(t, EventManifest, last.Event)
	assert.Equal(t, last.OverallTotal, last.OverallDone, "all bytes counted once")
	var total int64
	for _, l := range ls {
		n, err := l.Size()
		require.NoError(t, err)
		total += n
	}
	cfgSize := int64(len(must(t, img.RawConfigFile)))
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
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 1, 1024)
	ls, err := img.Layers()
	require.NoError(t, err)

	p, err := NewPusher(ctx, s.Ref("app:v1"))
	require.NoError(t, err)
	l := &blockingLayer{Layer: ls[0], opened: make(chan struct{})}
	p.Upload(l)
	select {
	case <-l.opened:
	case <-ctx.Done():
		require.FailNow(t, "the upload did not start")
	}
	p.Close() // returns: the hung upload was stopped
	p.Close()
	p.Upload(ls[0]) // ignored after Close

	_, err = p.Push(img)
	assert.ErrorIs(t, err, errPushed)
	assert.Equal(t, 0, s.Stats().BlobUploads)
}

func TestPusherPushesOnce(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 1, 1024)
	p, err := NewPusher(ctx, s.Ref("app:v1"))
	require.NoError(t, err)
	_, err = p.Push(img)
	require.NoError(t, err)
	_, err = p.Push(img)
	assert.ErrorIs(t, err, errPushed)
	_, err = p.PushIndex(nil)
	assert.ErrorContains(t, err, "nil index")
	p.Close() // after Push: nothing to do
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
