package image

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BuildAny builds on whatever base is: a v1.ImageIndex gives an index
// ([BuildIndex]), a v1.Image an image ([Build]), so that a caller that
// takes any reference (registry.PullAny returns either) needs one code
// path. On an image, [WithPlatforms] must name the image's platform (else
// the error lists it) and [WithPlatformLayers] is asked for the layers of
// that platform. A nil base builds from scratch: an image for one platform
// (the one of [WithPlatforms] or [WithPlatform], else linux/amd64), an
// index when [WithPlatforms] names several.
func BuildAny(ctx context.Context, base Artifact, opts ...IndexOption) (Artifact, error) {
	switch b := base.(type) {
	case nil:
		o, err := makeIndexOptions(opts)
		if err != nil {
			return nil, err
		}
		if len(o.platforms) > 1 {
			return BuildIndex(ctx, nil, opts...)
		}
		if len(o.platforms) == 1 {
			p := o.platforms[0]
			o.platform = &p
		}
		return buildImageAny(ctx, nil, o)
	case v1.ImageIndex:
		return BuildIndex(ctx, b, opts...)
	case v1.Image:
		o, err := makeIndexOptions(opts)
		if err != nil {
			return nil, err
		}
		return buildImageAny(ctx, b, o)
	}
	return nil, fmt.Errorf("image: BuildAny: %T is neither v1.Image nor v1.ImageIndex: %w", base, ErrUnsupportedBase)
}

// buildImageAny is Build with index options (base nil for scratch).
func buildImageAny(ctx context.Context, base v1.Image, o *options) (v1.Image, error) {
	b, err := readBase(base, o.platform)
	if err != nil {
		return nil, err
	}
	plat := v1.Platform{OS: b.cf.OS, Architecture: b.cf.Architecture, Variant: b.cf.Variant, OSVersion: b.cf.OSVersion}
	if len(o.platforms) > 0 {
		var want []string
		for _, p := range o.platforms {
			if !plat.Satisfies(p) {
				want = append(want, p.String())
			}
		}
		if len(want) > 0 {
			return nil, fmt.Errorf("image: platform %s not in base image (it is %s): %w", strings.Join(want, ", "), plat.String(), ErrNotFound)
		}
	}
	p := plan{ix: o.indexer()}
	if o.platformLayers != nil {
		ls, err := o.platformLayers(plat)
		if err != nil {
			return nil, fmt.Errorf("image: layers for platform %s: %w", plat.String(), err)
		}
		p.extra = ls
	}
	return build(ctx, b, o, p)
}
