package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/platform"
)

// Pull returns the image ref names, reading only its manifest (and, for
// an index, the index): layers are downloaded when the caller reads them,
// with ctx, so ctx must outlive that use. When ref names an index, the
// image for the platform of [WithPlatform] (default linux/amd64) is
// returned, and an index without it is an error ([ErrPlatformNotFound])
// listing the platforms it has.
//
// The image keeps go-containerregistry's optimisations: pushing it, or an
// image built on it, to the same registry mounts or skips its layers and
// never downloads them. It also has a method
//
//	Reference() name.Reference
//
// returning ref as given, for tools that record an image's base.
func Pull(ctx context.Context, ref string, opts ...Option) (v1.Image, error) {
	c, r, err := begin(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	img, err := c.pull(r)
	if err != nil {
		return nil, c.explain("pulling", r, err)
	}
	return img, nil
}

func (c *call) pull(r name.Reference) (v1.Image, error) {
	desc, err := remote.Get(r, c.remoteOptions()...)
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		a, err := pulled(desc, r)
		if err != nil {
			return nil, err
		}
		return a.(v1.Image), nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var available []string
	var images []v1.Descriptor
	for _, m := range im.Manifests {
		if m.Platform == nil || !m.MediaType.IsImage() || m.Platform.OS == "unknown" {
			continue // attestations and the like
		}
		images = append(images, m)
		available = append(available, m.Platform.String())
	}
	if m, ok := matchPlatform(images, c.o.platform); ok {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return nil, err
		}
		return &pulledImage{Image: img, ref: r}, nil
	}
	have := "none"
	if len(available) > 0 {
		have = strings.Join(available, ", ")
	}
	return nil, fmt.Errorf("%w: no %s image in index %s; it has: %s (choose one with WithPlatform)",
		ErrPlatformNotFound, c.o.platform.String(), desc.Digest, have)
}

// PullIndex returns the index ref names, reading only the index manifest;
// its images and their layers are read when the caller asks for them,
// with ctx. A reference to a single image is an error ([ErrNotIndex]);
// [PullAny] takes both.
// Like [Pull]'s image, the index has a Reference() name.Reference method.
func PullIndex(ctx context.Context, ref string, opts ...Option) (v1.ImageIndex, error) {
	a, err := pullArtifact(ctx, ref, opts, true)
	if err != nil {
		return nil, err
	}
	return a.(v1.ImageIndex), nil
}

// pullArtifact is [PullAny], or with indexOnly [PullIndex], which fails
// with ErrNotIndex for an image.
func pullArtifact(ctx context.Context, ref string, opts []Option, indexOnly bool) (Artifact, error) {
	c, r, err := begin(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	doing := "pulling"
	if indexOnly {
		doing = "pulling index"
	}
	desc, err := remote.Get(r, c.remoteOptions()...)
	if err == nil && indexOnly && !desc.MediaType.IsIndex() {
		err = fmt.Errorf("%w: it is a %s (use PullAny or Pull)", ErrNotIndex, desc.MediaType)
	}
	var a Artifact
	if err == nil {
		a, err = pulled(desc, r)
	}
	if err != nil {
		return nil, c.explain(doing, r, err)
	}
	return a, nil
}

// pulled returns the index or the image desc describes, knowing r.
func pulled(desc *remote.Descriptor, r name.Reference) (Artifact, error) {
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		return &pulledIndex{index: index{inner: idx}, ref: r}, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return &pulledImage{Image: img, ref: r}, nil
}

// pulledImage is a remote image that knows the reference it came from. It
// forwards the optional interfaces go-containerregistry looks for (through
// the partial package), so wrapping costs no optimisation: layers stay
// mountable and the descriptor is kept.
type pulledImage struct {
	v1.Image
	ref name.Reference
}

var _ v1.Image = (*pulledImage)(nil)

// Reference returns the reference the image was pulled by.
func (p *pulledImage) Reference() name.Reference { return p.ref }

// Descriptor keeps the descriptor the registry served (see partial.Descriptor).
func (p *pulledImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(p.Image) }

// ConfigLayer keeps the config blob mountable (see partial.ConfigLayer).
func (p *pulledImage) ConfigLayer() (v1.Layer, error) { return partial.ConfigLayer(p.Image) }

// pulledIndex is a remote index that knows the reference it came from.
type pulledIndex struct {
	index
	ref name.Reference
}

var _ v1.ImageIndex = (*pulledIndex)(nil)

// Reference returns the reference the index was pulled by.
func (p *pulledIndex) Reference() name.Reference { return p.ref }

// Layer serves non-manifest children (see partial.Manifests).
func (p *pulledIndex) Layer(h v1.Hash) (v1.Layer, error) {
	if l, ok := p.inner.(interface {
		Layer(v1.Hash) (v1.Layer, error)
	}); ok {
		return l.Layer(h)
	}
	return nil, fmt.Errorf("registry: index has no layer %s", h)
}

// index forwards v1.ImageIndex to inner (an embedded v1.ImageIndex would
// clash with the ImageIndex method), and keeps its descriptor.
type index struct {
	inner v1.ImageIndex
}

func (i index) MediaType() (types.MediaType, error)         { return i.inner.MediaType() }
func (i index) Digest() (v1.Hash, error)                    { return i.inner.Digest() }
func (i index) Size() (int64, error)                        { return i.inner.Size() }
func (i index) IndexManifest() (*v1.IndexManifest, error)   { return i.inner.IndexManifest() }
func (i index) RawManifest() ([]byte, error)                { return i.inner.RawManifest() }
func (i index) Image(h v1.Hash) (v1.Image, error)           { return i.inner.Image(h) }
func (i index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) { return i.inner.ImageIndex(h) }
func (i index) Descriptor() (*v1.Descriptor, error)         { return partial.Descriptor(i.inner) }

// wrapIndex is an index whose child images are wrapped by wrapImage, and
// whose child indexes are wrapped the same way, at every depth; blobs
// the index lists directly are wrapped by wrapLayer when it is set.
type wrapIndex struct {
	index
	wrapImage func(v1.Image) v1.Image
	wrapLayer func(v1.Layer) v1.Layer
}

func (w *wrapIndex) child(idx v1.ImageIndex) *wrapIndex {
	return &wrapIndex{index: index{inner: idx}, wrapImage: w.wrapImage, wrapLayer: w.wrapLayer}
}

func (w *wrapIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := w.inner.Image(h)
	if err != nil {
		return nil, err
	}
	return w.wrapImage(img), nil
}

func (w *wrapIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := w.inner.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return w.child(idx), nil
}

// Manifests wraps the children (see partial.Manifests).
func (w *wrapIndex) Manifests() ([]partial.Describable, error) {
	ms, err := partial.Manifests(w.inner)
	if err != nil {
		return nil, err
	}
	out := make([]partial.Describable, len(ms))
	for i, m := range ms {
		switch m := m.(type) {
		case v1.ImageIndex:
			out[i] = w.child(m)
		case v1.Image:
			out[i] = w.wrapImage(m)
		case v1.Layer:
			if w.wrapLayer != nil {
				out[i] = w.wrapLayer(m)
			} else {
				out[i] = m
			}
		default:
			out[i] = m
		}
	}
	return out, nil
}

// matchPlatform returns the first of images whose platform satisfies want
// (go-containerregistry's rule: what want leaves empty matches anything),
// else the first whose platform is want's once both are normalized as
// containerd normalizes them (linux/arm64/v8 is linux/arm64, aarch64 is
// arm64, linux/arm is linux/arm/v7).
func matchPlatform(images []v1.Descriptor, want v1.Platform) (v1.Descriptor, bool) {
	for _, m := range images {
		if m.Platform.Satisfies(want) {
			return m, true
		}
	}
	for _, m := range images {
		if platform.Same(*m.Platform, want) {
			return m, true
		}
	}
	return v1.Descriptor{}, false
}
