package image

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/layer"
)

// Facts is what Build knows of an image it made: the base it started
// from, when, for which platform, and what each added layer recorded of
// its inputs and content (layer.Recorder). Package attest turns it into an
// SBOM and a provenance statement.
type Facts struct {
	// Base is the base image; nil for scratch.
	Base *BaseFacts
	// Created is the image's created time.
	Created time.Time
	// Platform is the image's platform.
	Platform v1.Platform
	// Layers are the facts of the added layers that record them (the
	// layers of package layer), in order.
	Layers []layer.Facts
	// Config is the image's config, for the build parameters that
	// matter (entrypoint, user, working directory, environment keys).
	Config v1.Config
}

// BaseFacts is a base image: the reference it was pulled by ("" when it
// did not say, see [Referenced]) and its manifest digest.
type BaseFacts struct {
	Ref    string
	Digest v1.Hash
}

// Recorder is implemented by the images Build, BuildIndex and BuildAny
// make: Facts returns what the build knows of the image. A layer's facts
// may cost a read of its inputs or blob the first time (see
// layer.Recorder).
type Recorder interface {
	Facts(ctx context.Context) (Facts, error)
}

var _ Recorder = (*builtImage)(nil)

// made is what builtImage keeps for Facts.
type made struct {
	base     v1.Image // nil for scratch
	baseName string
	added    []v1.Layer // the added layers, as placed (unwrapped)
	created  time.Time
	platform v1.Platform
	config   v1.Config
}

// Facts implements Recorder.
func (i *builtImage) Facts(ctx context.Context) (Facts, error) {
	m := i.made
	if m == nil {
		return Facts{}, fmt.Errorf("image: %s was not built by this package: no facts", i.digest)
	}
	f := Facts{Created: m.created, Platform: m.platform, Config: m.config}
	if m.base != nil {
		d, err := m.base.Digest()
		if err != nil {
			return Facts{}, fmt.Errorf("image: digest of the base: %w", err)
		}
		f.Base = &BaseFacts{Ref: m.baseName, Digest: d}
	}
	for n, l := range m.added {
		r, ok := l.(layer.Recorder)
		if !ok {
			continue
		}
		lf, err := r.Facts(ctx)
		if err != nil {
			return Facts{}, fmt.Errorf("image: facts of added layer %d: %w", n, err)
		}
		f.Layers = append(f.Layers, lf)
	}
	return f, nil
}
