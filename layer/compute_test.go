package layer

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"
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
	if err != nil {
		t.Fatal(err)
	}
	c := l.(interface{ Compute(context.Context) error })
	if err := c.Compute(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compute(cancelled mid-build) = %v, want context.Canceled", err)
	}
	// The cancellation belonged to that call: the layer still builds.
	d, err := l.Digest()
	if err != nil {
		t.Fatalf("Digest() after a cancelled Compute = %v, want a digest", err)
	}
	check(t, l)
	// And the outcome is kept from now on, whatever the caller's ctx.
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := c.Compute(done); err != nil {
		t.Errorf("Compute(cancelled ctx) after a build = %v, want nil (kept outcome)", err)
	}
	if d2, _ := l.Digest(); d2 != d {
		t.Errorf("Digest() = %s, then %s", d, d2)
	}
}

func TestComputePreCancelled(t *testing.T) {
	l, err := FromFiles(goldenFiles)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.(interface{ Compute(context.Context) error }).Compute(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compute(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := l.Digest(); err != nil {
		t.Fatalf("Digest() after a cancelled Compute = %v", err)
	}
}
