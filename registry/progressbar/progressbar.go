// Package progressbar renders the progress of registry pushes
// (registry.WithProgress) for people: one bar per blob, drawn with
// github.com/vbauerster/mpb/v8, when the output is a terminal, and plain
// lines (one per blob outcome and manifest) when it is not, for CI logs.
//
//	r := progressbar.New(os.Stderr)
//	_, err := registry.Push(ctx, ref, img, registry.WithProgress(r.Update))
//	r.Close()
//
// It lives apart from package registry so that programs that do not draw
// progress bars do not depend on a terminal library.
package progressbar

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/stevedore-dev/stevedore/registry"
)

// Renderer draws push progress. Its Update method is the function to pass
// to registry.WithProgress; Close must be called once the push returns.
type Renderer struct {
	w   io.Writer
	tty bool

	mu     sync.Mutex
	p      *mpb.Progress
	bars   map[v1.Hash]*bar
	closed bool
}

type bar struct {
	b     *mpb.Bar
	state atomic.Pointer[string] // read by mpb's renderer goroutine
	done  bool                   // tracked here: mpb's Bar.Completed races with its renderer
}

// New returns a renderer writing to w: bars when w is a terminal (an
// *os.File for which term.IsTerminal holds), plain lines otherwise.
func New(w io.Writer) *Renderer {
	r := &Renderer{w: w, bars: map[v1.Hash]*bar{}}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.tty = true
		r.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))
	}
	return r
}

// Func returns a renderer's Update method, for registry.WithProgress.
func (r *Renderer) Func() func(registry.Progress) { return r.Update }

// Update renders one progress report.
func (r *Renderer) Update(p registry.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if !r.tty {
		r.line(p)
		return
	}
	switch p.Event {
	case registry.EventManifest, registry.EventManifestExists:
		b := r.p.New(0, mpb.NopStyle(), mpb.PrependDecorators(
			decor.Name(fmt.Sprintf("%s %s: %s", short(p.Digest), "manifest", p.Event))))
		b.SetTotal(-1, true)
		return
	}
	b := r.bars[p.Digest]
	if b == nil {
		b = &bar{}
		uploading := "uploading"
		b.state.Store(&uploading)
		st := b
		b.b = r.p.New(p.Total, mpb.BarStyle(),
			mpb.PrependDecorators(
				decor.Name(short(p.Digest)+" ", decor.WCSyncSpaceR),
				decor.Any(func(decor.Statistics) string { return *st.state.Load() }, decor.WCSyncSpaceR),
			),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")),
		)
		r.bars[p.Digest] = b
	}
	b.b.SetCurrent(p.Done)
	if p.Event != registry.EventBytes {
		state := p.Event.String()
		b.state.Store(&state)
		b.done = true
		b.b.SetTotal(p.Total, true)
	}
}

func (r *Renderer) line(p registry.Progress) {
	switch p.Event {
	case registry.EventBytes:
		return
	case registry.EventManifest, registry.EventManifestExists:
		fmt.Fprintf(r.w, "%s: %s %s\n", p.Ref, p.Event, p.Digest)
	default:
		fmt.Fprintf(r.w, "%s: blob %s %s (%s; %s of %s overall)\n", p.Ref, short(p.Digest), p.Event,
			size(p.Total), size(p.OverallDone), size(p.OverallTotal))
	}
}

// Close finishes the bars (unfinished ones are marked aborted) and waits
// until they are drawn. Later updates are ignored.
func (r *Renderer) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for _, b := range r.bars {
		if !b.done {
			b.b.Abort(false)
		}
	}
	r.mu.Unlock()
	if r.p != nil {
		r.p.Wait()
	}
}

func short(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.String()
	}
	return h.Hex[:12]
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
