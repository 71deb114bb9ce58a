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
	"github.com/vbauerster/mpb/v8"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func push(t *testing.T, r *Renderer) {
	t.Helper()
	s := registrytest.New(t)
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tag := range []string{"v1", "v1"} {
		if _, err := registry.Push(ctx, s.Ref("app:"+tag), img, registry.WithProgress(r.Update)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	r.Update(registry.Progress{Event: registry.EventBytes}) // after Close: ignored
}

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf)
	if r.tty {
		t.Fatal("a bytes.Buffer is not a terminal")
	}
	push(t, r)
	out := buf.String()
	for _, want := range []string{"uploaded", "manifest pushed", "manifest exists", "overall"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "uploaded"); n != 4 {
		t.Errorf("plain output has %d uploaded lines, want 4:\n%s", n, out)
	}
}

func TestPipeIsNotATerminal(t *testing.T) {
	_, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if New(w).tty {
		t.Error("New(pipe) draws bars, want plain lines")
	}
}

// TestBars drives the bar renderer (as on a terminal) into a buffer.
func TestBars(t *testing.T) {
	var buf bytes.Buffer
	r := &Renderer{w: &buf, tty: true, p: mpb.New(mpb.WithOutput(&buf), mpb.WithWidth(32), mpb.WithAutoRefresh()), bars: map[v1.Hash]*bar{}}
	push(t, r)
	out := buf.String()
	for _, want := range []string{"uploaded", "manifest", "KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q:\n%s", want, out)
		}
	}
}
