package image

import (
	"context"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/layer"
)

// slowFS serves one 64 MiB file whose first Read cancels a context: the
// layer made from it is being built when the cancellation comes.
type slowFS struct {
	fstest.MapFS
	cancel context.CancelFunc
}

func (s slowFS) Open(name string) (fs.File, error) {
	f, err := s.MapFS.Open(name)
	if err != nil || name != "big" {
		return f, err
	}
	return &zeroFile{File: f, cancel: s.cancel, left: 64 << 20}, nil
}

type zeroFile struct {
	fs.File
	cancel context.CancelFunc
	left   int64
}

func (f *zeroFile) Read(p []byte) (int, error) {
	f.cancel()
	if f.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), f.left)
	clear(p[:n])
	f.left -= n
	return int(n), nil
}

// TestBuildCancelStopsLayerBuild checks that cancelling Build stops the
// build of a layer made with a From* function (which has no ctx of its
// own), and that the layer is not poisoned: the next Build succeeds.
func TestBuildCancelStopsLayerBuild(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := layer.FromFS(slowFS{
		MapFS:  fstest.MapFS{"big": {Data: make([]byte, 64<<20), Mode: 0o644}},
		cancel: cancel,
	}, layer.WithRoot("/data"))
	require.NoError(t, err)
	_, err = Build(ctx, nil, WithLayers(l))
	require.ErrorIs(t, err, context.Canceled, "Build(cancelled during the layer's build)")
	img, err := Build(context.Background(), nil, WithLayers(l))
	require.NoError(t, err, "Build after a cancelled Build")
	checkImage(t, img)
}

// TestBuildCancelledBefore: a Build whose context is already done says
// which call failed, as every other error of the package does.
func TestBuildCancelledBefore(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := Build(ctx, nil, WithEnv("A", "1"))
	require.ErrorIs(t, err, context.Canceled)
	assert.EqualError(t, err, "image: build: context canceled")
}
