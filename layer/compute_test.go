package layer

import (
	"context"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cancellingFS serves one big file whose first Read cancels a context, so a
// build is cancelled while it is running, not before it starts.
type cancellingFS struct {
	fstest.MapFS
	cancel context.CancelFunc
	size   int64
}

func (c cancellingFS) Open(name string) (fs.File, error) {
	f, err := c.MapFS.Open(name)
	if err != nil || name != "big" {
		return f, err
	}
	return &cancellingFile{File: f, cancel: c.cancel, left: c.size}, nil
}

type cancellingFile struct {
	fs.File
	cancel context.CancelFunc
	left   int64
}

func (f *cancellingFile) Read(p []byte) (int, error) {
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
	if f.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > f.left {
		n = f.left
	}
	clear(p[:n])
	f.left -= n
	return int(n), nil
}

func TestComputeCancelIsNotKept(t *testing.T) {
	const size = 64 << 20
	ctx, cancel := context.WithCancel(context.Background())
	fsys := cancellingFS{
		MapFS:  fstest.MapFS{"big": {Data: make([]byte, size), Mode: 0o644}},
		cancel: cancel,
		size:   size,
	}
	l, err := FromFS(fsys, WithModTime(time.Unix(0, 0)))
	require.NoError(t, err)
	c := l.(interface{ Compute(context.Context) error })
	require.ErrorIs(t, c.Compute(ctx), context.Canceled, "Compute(cancelled mid-build)")
	// The cancellation belonged to that call: the layer still builds.
	d, err := l.Digest()
	require.NoError(t, err, "Digest() after a cancelled Compute")
	check(t, l)
	// And the outcome is kept from now on, whatever the caller's ctx.
	done, stop := context.WithCancel(context.Background())
	stop()
	assert.NoError(t, c.Compute(done), "Compute(cancelled ctx) after a build: want the kept outcome")
	d2, err := l.Digest()
	require.NoError(t, err)
	assert.Equal(t, d, d2, "Digest() twice")
}

func TestComputePreCancelled(t *testing.T) {
	l, err := FromFiles(goldenFiles)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.(interface{ Compute(context.Context) error }).Compute(ctx), context.Canceled, "Compute(cancelled)")
	_, err = l.Digest()
	assert.NoError(t, err, "Digest() after a cancelled Compute")
}
