package registry

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"
)

// A Pusher pushes one image or index to one reference, and can send its
// layers before the image is complete: give [Pusher.Upload] each layer as
// soon as it is built (image.WithLayerBuilt(p.Upload) does that for every
// layer image.Build adds), so that a layer is uploaded while the next one
// is built, then give the finished image to [Pusher.Push].
//
//	p, err := registry.NewPusher(ctx, "registry.example.com/team/app:v1")
//	if err != nil { ... }
//	defer p.Close()
//	img, err := image.Build(ctx, base, image.WithLayers(a, b), image.WithLayerBuilt(p.Upload))
//	if err != nil { ... }
//	digest, err := p.Push(img)
//
// The image pushed is the same as [Push]'s. Upload and Push share one
// go-containerregistry remote.Pusher, so the registry is pinged and
// authenticated once and a blob is sent once: Push first waits for the
// uploads started, then does not ask the registry again about a blob one
// of them sent. A blob whose upload failed is sent by Push, with Push's
// retries and error text. So Upload never fails: it can only save time.
// It can cost requests Push alone would not make: each uploaded layer is
// checked (HEAD) even when the manifest is already there, which Push
// alone would find first, and a layer handed to Upload and then not in
// the image is sent all the same.
//
// A Pusher's methods may be called from several goroutines. It serves
// one Push or PushIndex; [Pusher.Close] stops the uploads of a Pusher
// that will not push (a failed build). ctx, given to NewPusher, governs
// every request: cancelling it stops the uploads and makes Push fail with
// an error wrapping ctx's error.
//
// [WithJobs] bounds the uploads running at once; Push's own start after
// them. With [WithProgress], the uploads are reported as they go (drawn
// while the image is still being built): the overall total grows as
// layers are handed to Upload, and counts every blob of the image once
// Push has started, plus those handed to Upload that the image does not
// have, which never finish.
type Pusher struct {
	c      *call
	ref    string
	r      name.Reference
	obs    *observer
	rp     *remote.Pusher // shared by the uploads and the push
	cancel context.CancelFunc
	jobs   chan struct{} // at most WithJobs uploads at a time

	mu      sync.Mutex
	started map[v1.Hash]bool
	closed  bool
	wg      sync.WaitGroup
}

// NewPusher returns a Pusher to ref (a tag or a digest) with the options
// of [Push].
func NewPusher(ctx context.Context, ref string, opts ...Option) (*Pusher, error) {
	if ctx == nil {
		return nil, fmt.Errorf("registry: nil context")
	}
	ctx, cancel := context.WithCancel(ctx)
	c, r, err := begin(ctx, ref, opts)
	if err != nil {
		cancel()
		return nil, err
	}
	c.rep = newReporter(c.o.progress, ref)
	obs := &observer{rep: c.rep, repo: r.Context().RepositoryStr()}
	c.tr.observe = obs.observe
	rp, err := remote.NewPusher(c.remoteOptions()...)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("registry: pushing %s: %w", ref, err)
	}
	return &Pusher{
		c: c, ref: ref, r: r, obs: obs, rp: rp, cancel: cancel,
		jobs:    make(chan struct{}, c.o.jobs),
		started: map[v1.Hash]bool{},
	}, nil
}

// Upload starts sending l's blob to the Pusher's repository in the
// background and returns at once; l's digest must be known (a layer of
// package layer that image.Build has computed, say). A layer whose
// upload has started, a layer whose digest is not known yet (a
// stream.Layer), and every layer after Push or Close, are ignored. Upload
// has the signature image.WithLayerBuilt takes.
func (p *Pusher) Upload(l v1.Layer) {
	if _, ok := l.(*stream.Layer); ok || l == nil {
		return
	}
	h, err := l.Digest()
	if err != nil {
		return // Push reports it
	}
	p.mu.Lock()
	if p.closed || p.started[h] {
		p.mu.Unlock()
		return
	}
	p.started[h] = true
	p.wg.Add(1) // under mu: push and Close set closed before they Wait
	p.mu.Unlock()

	l = withMount(l, p.r.Context())
	if p.c.rep != nil {
		l = wrapLayer(l, p.c.rep)
	}
	go func() {
		defer p.wg.Done()
		select {
		case p.jobs <- struct{}{}:
		case <-p.c.ctx.Done():
			return
		}
		defer func() { <-p.jobs }()
		// An error is Push's to report: it sends the blob again, and counts
		// its bytes again.
		if err := p.rp.Upload(p.c.ctx, p.r.Context(), l); err != nil {
			uncount(l)
		}
	}()
}

// Push waits for the uploads started, then writes img, its config and
// the blobs not yet in the repository as [Push] does, and returns the
// digest reference of what was pushed.
func (p *Pusher) Push(img v1.Image) (name.Digest, error) {
	if img == nil {
		return name.Digest{}, fmt.Errorf("registry: pushing %s: nil image", p.ref)
	}
	return p.push("pushing", img)
}

// PushIndex waits for the uploads started, then writes idx, its images
// and their blobs as [PushIndex] does, and returns the digest reference
// of the index.
func (p *Pusher) PushIndex(idx v1.ImageIndex) (name.Digest, error) {
	if idx == nil {
		return name.Digest{}, fmt.Errorf("registry: pushing index %s: nil index", p.ref)
	}
	return p.push("pushing index", idx)
}

// errPushed is the error of a second Push or PushIndex.
var errPushed = errors.New("this Pusher has already pushed or been closed")

// push stops new uploads, waits for those started and pushes t. Waiting
// first matters: a blob whose upload fails while Push waits for it would
// fail Push (go-containerregistry's remote.Pusher hands the upload's
// error to a caller waiting for the same blob), where one that failed
// before is simply sent again.
func (p *Pusher) push(op string, t pushable) (name.Digest, error) {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if closed {
		return name.Digest{}, fmt.Errorf("registry: %s %s: %w", op, p.ref, errPushed)
	}
	p.wg.Wait()
	defer p.cancel()

	c, r := p.c, p.r
	t = mountShared(t, r.Context())
	if c.rep != nil {
		t = c.withProgress(t)
	}
	if err := p.rp.Push(c.ctx, r, t); err != nil {
		return name.Digest{}, c.explain(op, r, err)
	}
	h, err := t.Digest()
	if err != nil {
		return name.Digest{}, c.explain(op, r, err)
	}
	if c.rep != nil && !p.obs.putManifest(r.Identifier(), h) {
		mt, _ := t.MediaType()
		c.rep.manifest(EventManifestExists, h, mt)
	}
	return r.Context().Digest(h.String()), nil
}

// Close stops the uploads not finished and waits for them to return (an
// upload blocked in reading its layer returns when that read does). After
// Push it does nothing. It is safe to call more than once.
func (p *Pusher) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}
