package progressbar

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func push(t *testing.T, r *Renderer) {
	t.Helper()
	s := registrytest.New(t)
	img, err := random.Image(64<<10, 3)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tag := range []string{"v1", "v1"} {
		_, err := registry.Push(ctx, s.Ref("app:"+tag), img, registry.WithProgress(r.Update))
		require.NoError(t, err)
	}
	r.Close()
	r.Update(registry.Progress{Event: registry.EventBytes}) // after Close: ignored
}

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf)
	require.False(t, r.tty, "New(bytes.Buffer) draws bars: a bytes.Buffer is not a terminal")
	push(t, r)
	out := buf.String()
	for _, want := range []string{"uploaded", "manifest pushed", "manifest exists", "overall"} {
		assert.Contains(t, out, want, "plain output")
	}
	assert.Equal(t, 4, strings.Count(out, "uploaded"), "uploaded lines in the plain output:\n%s", out)
}

func TestPipeIsNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, New(w).tty, "New(pipe) draws bars, want plain lines")
}

// TestBars drives the bar renderer (as on a terminal) into a buffer.
func TestBars(t *testing.T) {
	var buf bytes.Buffer
	r := &Renderer{w: &buf, tty: true, p: mpb.New(mpb.WithOutput(&buf), mpb.WithWidth(32), mpb.WithAutoRefresh()), bars: map[v1.Hash]*bar{}}
	push(t, r)
	out := buf.String()
	for _, want := range []string{"uploaded", "manifest", "KiB"} {
		assert.Contains(t, out, want, "bar output")
	}
}
