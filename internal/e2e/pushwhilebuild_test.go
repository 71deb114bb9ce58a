package e2e

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// openSignal is a layer that closes a channel when its blob is first
// read.
type openSignal struct {
	v1.Layer
	once   sync.Once
	opened chan struct{}
}

func (l *openSignal) Compressed() (io.ReadCloser, error) {
	l.once.Do(func() { close(l.opened) })
	return l.Layer.Compressed()
}

// waitingLayer's digest is known only once another layer's blob is being
// read (or after a minute, as an error).
type waitingLayer struct {
	v1.Layer
	after <-chan struct{}
}

func (l *waitingLayer) Digest() (v1.Hash, error) {
	select {
	case <-l.after:
		return l.Layer.Digest()
	case <-time.After(time.Minute):
		return v1.Hash{}, errors.New("the layer before was not uploaded while this one was built")
	}
}

// TestPushWhileBuilding checks that image.WithLayerBuilt and
// registry.Pusher send a layer while Build builds the next one: the
// second layer cannot be built until the first one's upload has begun,
// so Build would fail if the upload waited for Push. Every blob is then
// sent once, and the pushed image is the built one.
func TestPushWhileBuilding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := registrytest.New(t)
	ref := srv.Ref("team/app:v1")

	first, err := layer.FromFiles([]layer.File{{Path: "/app/config.json", Data: []byte(`{"a":1}`)}})
	require.NoError(t, err)
	third, err := layer.FromFiles([]layer.File{{Path: "/app/bin/run", Data: []byte("#!/bin/sh\n"), Mode: 0o755}})
	require.NoError(t, err)
	random, err := random.Layer(4096, types.OCILayer)
	require.NoError(t, err)
	firstOpened := make(chan struct{})
	second := &waitingLayer{Layer: random, after: firstOpened}

	p, err := registry.NewPusher(ctx, ref)
	require.NoError(t, err)
	defer p.Close()
	var handed []v1.Layer
	upload := func(l v1.Layer) {
		handed = append(handed, l)
		if len(handed) == 1 {
			l = &openSignal{Layer: l, opened: firstOpened}
		}
		p.Upload(l)
	}
	img, err := image.Build(ctx, nil, image.WithLayers(first, second, third), image.WithLayerBuilt(upload))
	require.NoError(t, err)

	ls, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, handed, len(ls), "every added layer handed over")
	for i := range ls {
		assert.Equal(t, digestOf(t, ls[i]), digestOf(t, handed[i]), "layer %d", i)
		want, err := ls[i].MediaType()
		require.NoError(t, err)
		got, err := handed[i].MediaType()
		require.NoError(t, err)
		assert.Equal(t, want, got, "layer %d media type", i)
	}

	d, err := p.Push(img)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, img).String(), d.DigestStr())
	assert.Equal(t, len(ls)+1, srv.Stats().BlobUploads, "every layer and the config, each once")

	pulled, err := registry.Pull(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, img), digestOf(t, pulled))
	assert.NoError(t, validate.Image(pulled))
}
