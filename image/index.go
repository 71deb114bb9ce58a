package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BuildIndex builds one image per platform with [Build]'s rules and returns
// them as an image index. With a base index, it builds on every platform
// image of the base, or on those matching [WithPlatforms]; with a nil base
// it builds scratch images for the platforms of [WithPlatforms] (required
// then). Each image gets the layers of [WithLayers], then the platform's
// own layers from [WithPlatformLayers], and every config edit.
//
// Entries of the base that are not platform images are dropped: attestation
// manifests (platform unknown/unknown, or annotated
// vnd.docker.reference.type) attest to the base's images, which are no
// longer in the index, and non-image entries have nothing to build on. A
// nested index in the base is an error.
//
// The index and all its images are of one media type family: the base's,
// or OCI when the base is OCI, when [WithOCIMediaTypes] is given, or when
// any platform gets a zstd layer (then every image is converted). The
// annotations of [WithAnnotation] go on the index and on every image; when
// base implements Reference() name.Reference (as registry.PullIndex's
// indexes do) and the result is OCI, the index gets the base annotations
// with the base index digest and each image those with its base image's
// digest.
func BuildIndex(ctx context.Context, base v1.ImageIndex, opts ...Option) (v1.ImageIndex, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := o.forBuild("BuildIndex", true); err != nil {
		return nil, err
	}
	if o.platform != nil {
		return nil, fmt.Errorf("image: WithPlatform applies to Build; BuildIndex takes WithPlatforms: %w", ErrInvalidOption)
	}
	type target struct {
		platform v1.Platform
		base     v1.Image // nil: scratch
		baseDesc v1.Descriptor
		extra    []v1.Layer
	}
	var (
		targets  []target
		fam      = familyOCI
		baseName string
	)
	if base == nil {
		if len(o.platforms) == 0 {
			return nil, fmt.Errorf("image: BuildIndex without a base needs WithPlatforms: %w", ErrInvalidOption)
		}
		for _, p := range o.platforms {
			targets = append(targets, target{platform: p})
		}
	} else {
		if r, ok := base.(referencer); ok {
			baseName = r.Reference().Name()
		}
		mt, err := base.MediaType()
		if err != nil {
			return nil, fmt.Errorf("image: media type of base index: %w", err)
		}
		if fam, err = manifestFamily(mt); err != nil {
			return nil, err
		}
		im, err := base.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("image: base index: %w", err)
		}
		matched := make([]bool, len(o.platforms))
		for _, d := range im.Manifests {
			if d.MediaType.IsIndex() {
				return nil, fmt.Errorf("image: base index holds a nested index %s: %w", d.Digest, ErrUnsupportedBase)
			}
			if !d.MediaType.IsImage() || isAttestation(d) {
				continue
			}
			img, err := base.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("image: base image %s: %w", d.Digest, err)
			}
			var plat v1.Platform
			if d.Platform != nil {
				plat = *d.Platform
			} else {
				cf, err := img.ConfigFile()
				if err != nil {
					return nil, fmt.Errorf("image: config of base image %s: %w", d.Digest, err)
				}
				if p := cf.Platform(); p != nil {
					plat = *p
				}
			}
			if plat.OS == "" || plat.OS == "unknown" {
				continue
			}
			if len(o.platforms) > 0 {
				keep := false
				for i, want := range o.platforms {
					if plat.Satisfies(want) {
						matched[i] = true
						keep = true
					}
				}
				if !keep {
					continue
				}
			}
			targets = append(targets, target{platform: plat, base: img, baseDesc: d})
		}
		for i, ok := range matched {
			if !ok {
				return nil, fmt.Errorf("image: platform %s not in base index: %w", o.platforms[i].String(), ErrNotFound)
			}
		}
		if len(targets) == 0 {
			return nil, fmt.Errorf("image: base index has no platform images: %w", ErrNotFound)
		}
	}

	// Per-platform layers, and the family every image will have.
	forceOCI := o.oci || fam == familyOCI
	for i := range targets {
		if o.platformLayers != nil {
			ls, err := o.platformLayers(targets[i].platform)
			if err != nil {
				return nil, fmt.Errorf("image: layers for platform %s: %w", targets[i].platform.String(), err)
			}
			for j, l := range ls {
				if l == nil {
					return nil, fmt.Errorf("image: layer %d for platform %s is nil", j, targets[i].platform.String())
				}
			}
			targets[i].extra = ls
		}
		for _, l := range append(append([]v1.Layer(nil), o.layers...), targets[i].extra...) {
			mt, err := l.MediaType()
			if err != nil {
				return nil, fmt.Errorf("image: media type of layer: %w", err)
			}
			if k, ok := kindOf(mt); ok {
				if _, ok := familyDocker.layerType(k); !ok {
					forceOCI = true
				}
			}
		}
	}

	buildAll := func(forceOCI bool) ([]v1.Descriptor, map[v1.Hash]v1.Image, bool, error) {
		descs := make([]v1.Descriptor, 0, len(targets))
		children := make(map[v1.Hash]v1.Image, len(targets))
		anyOCI := false
		for _, t := range targets {
			p := plan{extra: t.extra, forceOCI: forceOCI, forceDocker: !forceOCI, baseName: baseName}
			if t.base == nil {
				plat := t.platform
				p.platform = &plat
			}
			child, err := build(ctx, t.base, o, p)
			if err != nil {
				return nil, nil, false, fmt.Errorf("image: platform %s: %w", t.platform.String(), err)
			}
			mt, _ := child.MediaType()
			size, _ := child.Size()
			d, _ := child.Digest()
			anyOCI = anyOCI || mt == types.OCIManifestSchema1
			plat := t.platform
			descs = append(descs, v1.Descriptor{MediaType: mt, Size: size, Digest: d, Platform: &plat})
			children[d] = child
		}
		return descs, children, anyOCI, nil
	}
	descs, children, anyOCI, err := buildAll(forceOCI)
	if err != nil {
		return nil, err
	}
	if !forceOCI && anyOCI {
		// A base image whose own layers Docker types cannot express went
		// OCI: make them all OCI, so that the index does not mix families.
		forceOCI = true
		if descs, children, _, err = buildAll(true); err != nil {
			return nil, err
		}
	}
	if forceOCI {
		fam = familyOCI
	}
	var anns map[string]string
	if fam == familyOCI {
		anns = map[string]string{}
		if baseName != "" {
			d, err := base.Digest()
			if err != nil {
				return nil, fmt.Errorf("image: digest of base index %s: %w", baseName, err)
			}
			anns[BaseNameAnnotation] = baseName
			anns[BaseDigestAnnotation] = d.String()
		}
		for k, v := range o.annotations {
			anns[k] = v
		}
		if len(anns) == 0 {
			anns = nil
		}
	}
	raw, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     fam.index(),
		Manifests:     descs,
		Annotations:   anns,
	})
	if err != nil {
		return nil, fmt.Errorf("image: encoding index: %w", err)
	}
	return &builtIndex{mt: fam.index(), raw: raw, children: children}, nil
}

// isAttestation reports index entries that are not platform images:
// BuildKit attestation manifests and other unknown/unknown entries.
func isAttestation(d v1.Descriptor) bool {
	if _, ok := d.Annotations["vnd.docker.reference.type"]; ok {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// builtIndex is an index whose manifest is computed.
type builtIndex struct {
	mt       types.MediaType
	raw      []byte
	children map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*builtIndex)(nil)

func (i *builtIndex) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *builtIndex) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *builtIndex) RawManifest() ([]byte, error)        { return bytes.Clone(i.raw), nil }
func (i *builtIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.raw))
	return h, err
}
func (i *builtIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}
func (i *builtIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.children[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image: no image %s in index: %w", h, ErrNotFound)
}
func (i *builtIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("image: no index %s in index: %w", h, ErrNotFound)
}
