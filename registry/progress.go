package registry

import (
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Event says what a [Progress] report is about.
type Event int

// The events of a push.
const (
	// EventBytes: bytes of a blob were sent.
	EventBytes Event = iota + 1
	// EventSkipped: the blob is already in the repository; nothing sent.
	EventSkipped
	// EventMounted: the blob was mounted from another repository of the
	// same registry; nothing sent.
	EventMounted
	// EventUploaded: the blob's upload completed.
	EventUploaded
	// EventManifest: a manifest (an image's, or an index's) was stored.
	EventManifest
	// EventManifestExists: the tag already named this manifest; nothing
	// was sent for it.
	EventManifestExists
)

func (e Event) String() string {
	switch e {
	case EventBytes:
		return "bytes"
	case EventSkipped:
		return "skipped (exists)"
	case EventMounted:
		return "mounted"
	case EventUploaded:
		return "uploaded"
	case EventManifest:
		return "manifest pushed"
	case EventManifestExists:
		return "manifest exists"
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Progress is one report of [WithProgress]. It never holds credentials.
type Progress struct {
	Event Event
	// Ref is the reference being pushed, as given.
	Ref string
	// Digest is the blob's or manifest's digest.
	Digest v1.Hash
	// MediaType is the blob's or manifest's media type, when known.
	MediaType types.MediaType
	// Done and Total are the bytes of this blob sent so far and its size.
	// Skipped and mounted blobs count as done.
	Done, Total int64
	// OverallDone and OverallTotal are the same for all the blobs of the
	// push together (manifests excluded).
	OverallDone, OverallTotal int64
}

// reporter keeps the counts of a push and calls the user's function, one
// call at a time. All methods do nothing on a nil reporter.
type reporter struct {
	f   func(Progress)
	ref string

	mu           sync.Mutex
	blobs        map[v1.Hash]*blobState
	overallDone  int64
	overallTotal int64
}

type blobState struct {
	mt          types.MediaType
	done, total int64
	finished    bool
}

func newReporter(f func(Progress), ref string) *reporter {
	if f == nil {
		return nil
	}
	return &reporter{f: f, ref: ref, blobs: map[v1.Hash]*blobState{}}
}

// add registers a blob, once.
func (r *reporter) add(h v1.Hash, size int64, mt types.MediaType) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blobs[h]; ok {
		return
	}
	r.blobs[h] = &blobState{mt: mt, total: size}
	r.overallTotal += size
}

// sent records n more bytes of a blob (negative to undo a failed attempt).
func (r *reporter) sent(h v1.Hash, n int64) {
	if r == nil || n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.blobs[h]
	if b == nil || b.finished {
		return
	}
	b.done += n
	r.overallDone += n
	r.emitLocked(EventBytes, h, b)
}

// finish records a blob's outcome; the first one counts.
func (r *reporter) finish(ev Event, h v1.Hash) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.blobs[h]
	if b == nil {
		// Not seen by the walk (a streamed layer): count it now.
		b = &blobState{}
		r.blobs[h] = b
	}
	if b.finished {
		return
	}
	b.finished = true
	r.overallDone += b.total - b.done
	b.done = b.total
	r.emitLocked(ev, h, b)
}

// manifest reports a manifest event.
func (r *reporter) manifest(ev Event, h v1.Hash, mt types.MediaType) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.f(Progress{Event: ev, Ref: r.ref, Digest: h, MediaType: mt,
		OverallDone: r.overallDone, OverallTotal: r.overallTotal})
}

func (r *reporter) emitLocked(ev Event, h v1.Hash, b *blobState) {
	r.f(Progress{Event: ev, Ref: r.ref, Digest: h, MediaType: b.mt,
		Done: b.done, Total: b.total, OverallDone: r.overallDone, OverallTotal: r.overallTotal})
}

// countingLayer reports the bytes read from a layer's compressed stream.
// A new Compressed call (a retry) undoes the previous attempt's count.
type countingLayer struct {
	v1.Layer
	h   v1.Hash
	rep *reporter

	mu   sync.Mutex
	last *countingReader
}

func (l *countingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	cr := &countingReader{rc: rc, h: l.h, rep: l.rep}
	l.replaceLast(cr)
	return cr, nil
}

// replaceLast makes cr the reader whose bytes count, and undoes the count
// of the one before.
func (l *countingLayer) replaceLast(cr *countingReader) {
	l.mu.Lock()
	prev := l.last
	l.last = cr
	l.mu.Unlock()
	if prev != nil {
		prev.undo()
	}
}

// uncount undoes the count of l's last read, when l counts (see
// wrapLayer): for an upload that failed and will be made again.
func uncount(l v1.Layer) {
	if ml, ok := l.(*remote.MountableLayer); ok {
		l = ml.Layer
	}
	if cl, ok := l.(*countingLayer); ok {
		cl.replaceLast(nil)
	}
}

// Descriptor keeps the layer's descriptor (see partial.Descriptor).
func (l *countingLayer) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(l.Layer) }

type countingReader struct {
	rc  io.ReadCloser
	h   v1.Hash
	rep *reporter

	mu   sync.Mutex
	n    int64
	dead bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.dead {
			c.n += int64(n)
			c.rep.sent(c.h, int64(n))
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }

func (c *countingReader) undo() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead {
		c.dead = true
		c.rep.sent(c.h, -c.n)
	}
}

// wrapLayer counts l's bytes for the reporter, keeping it mountable.
func wrapLayer(l v1.Layer, rep *reporter) v1.Layer {
	if _, ok := l.(*stream.Layer); ok {
		return l // digest unknown until streamed; go-containerregistry special-cases it
	}
	h, err := l.Digest()
	if err != nil {
		return l
	}
	size, _ := l.Size()
	mt, _ := l.MediaType()
	rep.add(h, size, mt)
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: &countingLayer{Layer: ml.Layer, h: h, rep: rep}, Reference: ml.Reference}
	}
	return &countingLayer{Layer: l, h: h, rep: rep}
}

// progressImage counts the bytes of an image's blobs as they are read.
type progressImage struct {
	v1.Image
	rep *reporter
}

func (p *progressImage) Layers() ([]v1.Layer, error) {
	ls, err := p.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = wrapLayer(l, p.rep)
	}
	return out, nil
}

func (p *progressImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(p.Image)
	if err != nil {
		return nil, err
	}
	return wrapLayer(l, p.rep), nil
}

func (p *progressImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(p.Image) }

// progressIndex counts the bytes of an index's blobs, at every depth.
func progressIndex(idx v1.ImageIndex, rep *reporter) *wrapIndex {
	return &wrapIndex{
		index:     index{inner: idx},
		wrapImage: func(img v1.Image) v1.Image { return &progressImage{Image: img, rep: rep} },
		wrapLayer: func(l v1.Layer) v1.Layer { return wrapLayer(l, rep) },
	}
}
