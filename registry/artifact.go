package registry

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is what [PullAny] returns and [PushAny] takes: a v1.Image or a
// v1.ImageIndex, which both have these methods. It has the methods of
// stevedore's image.Artifact, so values pass between the two packages as
// they are: a pulled base goes to image.WriteOCILayout, a layout's entry
// to PushAny.
type Artifact interface {
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
}

// PullAny returns what ref names, as it is: a v1.Image for an image, a
// v1.ImageIndex for an index, so a caller that takes both (a copy, a
// build on any base) needs one call, not one per kind. Like [Pull] and
// [PullIndex], it reads only the manifest; layers, and an index's images,
// are read when the caller asks for them, with ctx, so ctx must outlive
// that use. [WithPlatform] does not apply: an index is returned whole.
// The value has the same Reference() name.Reference method as Pull's.
func PullAny(ctx context.Context, ref string, opts ...Option) (Artifact, error) {
	return pullArtifact(ctx, ref, opts, false)
}

// PushAny writes a to the registry under ref: an image as [Push] does,
// an index (its images and their blobs too) as [PushIndex] does. It
// returns the digest reference of what was pushed. A value that is
// neither a v1.Image nor a v1.ImageIndex is an error.
func PushAny(ctx context.Context, ref string, a Artifact, opts ...Option) (name.Digest, error) {
	if a == nil {
		return name.Digest{}, fmt.Errorf("registry: pushing %s: nil artifact", ref)
	}
	p, err := NewPusher(ctx, ref, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	defer p.Close()
	return p.PushAny(a)
}

// PushAny writes a as [Pusher.Push] does for an image and
// [Pusher.PushIndex] for an index (see [PushAny]).
func (p *Pusher) PushAny(a Artifact) (name.Digest, error) {
	idx, isIndex := a.(v1.ImageIndex)
	img, isImage := a.(v1.Image)
	if isIndex && isImage {
		// Both method sets: the media type decides.
		mt, err := a.MediaType()
		if err != nil {
			return name.Digest{}, fmt.Errorf("registry: pushing %s: %w", p.ref, err)
		}
		isIndex = mt.IsIndex()
	}
	switch {
	case a == nil:
		return name.Digest{}, fmt.Errorf("registry: pushing %s: nil artifact", p.ref)
	case isIndex:
		return p.PushIndex(idx)
	case isImage:
		return p.Push(img)
	}
	return name.Digest{}, fmt.Errorf("registry: pushing %s: %T is neither a v1.Image nor a v1.ImageIndex", p.ref, a)
}
