package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Push writes img to the registry under ref (a tag, or a digest) and
// returns the digest reference of what was pushed.
//
// Blobs already in the repository are not sent (a HEAD comes first);
// layers of an image pulled from another repository of the same registry
// are mounted from there, and uploaded when the registry refuses; uploads
// run in parallel ([WithJobs]) and read each blob once per attempt. Failed
// requests are retried ([WithRetries]). Cancelling ctx stops every upload
// and returns an error wrapping ctx's error.
func Push(ctx context.Context, ref string, img v1.Image, opts ...Option) (name.Digest, error) {
	if img == nil {
		return name.Digest{}, fmt.Errorf("registry: pushing %s: nil image", ref)
	}
	return push(ctx, ref, "pushing", img, opts)
}

// PushIndex writes idx, its images and their blobs to the registry under
// ref and returns the digest reference of the index. It works as [Push]
// does.
func PushIndex(ctx context.Context, ref string, idx v1.ImageIndex, opts ...Option) (name.Digest, error) {
	if idx == nil {
		return name.Digest{}, fmt.Errorf("registry: pushing index %s: nil index", ref)
	}
	return push(ctx, ref, "pushing index", idx, opts)
}

type pushable interface {
	remote.Taggable
	partial.Describable
}

func push(ctx context.Context, ref, op string, t pushable, opts []Option) (name.Digest, error) {
	p, err := NewPusher(ctx, ref, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	defer p.Close()
	return p.push(op, t)
}

// withProgress wraps t to count its blobs' bytes, and registers every blob
// first so the overall total is known from the start.
func (c *call) withProgress(t pushable) pushable {
	switch t := t.(type) {
	case v1.Image:
		p := &progressImage{Image: t, rep: c.rep}
		_, _ = p.Layers()
		_, _ = p.ConfigLayer()
		return p
	case v1.ImageIndex:
		p := progressIndex(t, c.rep)
		c.walk(p)
		return p
	}
	return t
}

func (c *call) walk(idx *wrapIndex) {
	ms, err := idx.Manifests()
	if err != nil {
		return
	}
	for _, m := range ms {
		switch m := m.(type) {
		case *wrapIndex:
			c.walk(m)
		case *progressImage:
			_, _ = m.Layers()
			_, _ = m.ConfigLayer()
		}
	}
}

// observer turns the registry's answers during a push into progress
// events: HEAD blob 200 (skipped), mount 201 (mounted), the final upload
// PUT 201 (uploaded) and manifest PUTs.
type observer struct {
	rep  *reporter
	repo string

	mu  sync.Mutex
	put map[string]bool // manifest identifiers stored
}

func (o *observer) observe(req *http.Request, resp *http.Response) {
	path := req.URL.Path
	prefix := "/v2/" + o.repo + "/"
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok || resp.StatusCode/100 != 2 {
		return
	}
	switch {
	case req.Method == http.MethodHead && strings.HasPrefix(rest, "blobs/") && resp.StatusCode == http.StatusOK:
		if h, err := v1.NewHash(strings.TrimPrefix(rest, "blobs/")); err == nil {
			o.rep.finish(EventSkipped, h)
		}
	case req.Method == http.MethodPost && strings.HasPrefix(rest, "blobs/uploads") && resp.StatusCode == http.StatusCreated:
		if h, err := v1.NewHash(req.URL.Query().Get("mount")); err == nil {
			o.rep.finish(EventMounted, h)
		}
	case req.Method == http.MethodPut && strings.HasPrefix(rest, "blobs/uploads"):
		if h, err := v1.NewHash(req.URL.Query().Get("digest")); err == nil {
			o.rep.finish(EventUploaded, h)
		}
	case req.Method == http.MethodPut && strings.HasPrefix(rest, "manifests/"):
		id := strings.TrimPrefix(rest, "manifests/")
		o.mu.Lock()
		if o.put == nil {
			o.put = map[string]bool{}
		}
		o.put[id] = true
		o.mu.Unlock()
		h, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
		if err != nil {
			h, _ = v1.NewHash(id)
		}
		o.rep.manifest(EventManifest, h, types.MediaType(req.Header.Get("Content-Type")))
	}
}

// putManifest reports whether the push stored a manifest under id (a tag
// or the digest h).
func (o *observer) putManifest(id string, h v1.Hash) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.put[id] || o.put[h.String()]
}
