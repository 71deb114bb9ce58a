package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// BuildIndex builds one image per platform with [Build]'s rules and returns
// them as an image index. With a base index, it builds on every platform
// image of the base, or on those matching [WithPlatforms]; with a nil base
// it builds scratch images for the platforms of [WithPlatforms]
// (linux/amd64 when not given). Each image gets the layers of
// [WithLayers], then the platform's own layers from [WithPlatformLayers],
// and every config edit. [WithPlatform] does not apply (it is an error).
//
// Entries of the base that are not platform images are dropped: attestation
// manifests (platform unknown/unknown, or annotated
// vnd.docker.reference.type) attest to the base's images, which are no
// longer in the index, and non-image entries have nothing to build on. A
// nested index in the base is an error.
//
// The index and all its images are of one media type family, decided
// before anything is built: the base's, or OCI when [WithOCIMediaTypes] is
// given or when any image needs it (a zstd layer, shared or per-platform,
// or a base image whose layers Docker types cannot express). The
// annotations of [WithAnnotation] go on the index and on every image; when
// base implements [Referenced] (as registry.PullIndex's indexes do) and
// the result is OCI, the index gets the base annotations with the base
// index digest and each image those with its base image's digest.
func BuildIndex(ctx context.Context, base v1.ImageIndex, opts ...IndexOption) (v1.ImageIndex, error) {
	o, err := makeIndexOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.platform != nil {
		return nil, fmt.Errorf("%w: WithPlatform applies to Build; BuildIndex takes WithPlatforms", ErrInvalidOption)
	}
	ts, err := indexTargets(base, o)
	if err != nil {
		return nil, err
	}
	if err := platformLayers(o, ts); err != nil {
		return nil, err
	}
	baseName := ""
	if r, ok := base.(Referenced); ok && base != nil {
		baseName = r.Reference().Name()
		for _, t := range ts {
			t.base.name = baseName // each image names the index it came from
		}
	}
	fam, err := indexFamily(base, o, ts)
	if err != nil {
		return nil, err
	}
	ix := o.indexer()
	descs := make([]v1.Descriptor, 0, len(ts))
	children := make(map[v1.Hash]v1.Image, len(ts))
	for _, t := range ts {
		child, err := build(ctx, t.base, o, plan{extra: t.extra, family: &fam, ix: ix})
		if err != nil {
			return nil, fmt.Errorf("image: platform %s: %w", t.platform.String(), err)
		}
		d, _, err := describeArtifact(child)
		if err != nil {
			return nil, err
		}
		plat := t.platform
		d.Platform = &plat
		descs = append(descs, d)
		children[d.Digest] = child
	}
	anns, err := annotations(fam, baseName, base, o.annotations)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: fam.Index(), Manifests: descs, Annotations: anns})
	if err != nil {
		return nil, fmt.Errorf("image: encoding index: %w", err)
	}
	return &builtIndex{rawIndex: rawIndex{fam.Index(), raw}, children: children}, nil
}

// target is one image BuildIndex builds.
type target struct {
	platform v1.Platform
	base     *baseImage
	extra    []v1.Layer
}

// indexTargets lists the images to build: the platform images of base
// that WithPlatforms picks, or scratch images.
func indexTargets(base v1.ImageIndex, o *options) ([]target, error) {
	if base == nil {
		ps := o.platforms
		if len(ps) == 0 {
			ps = []v1.Platform{{OS: "linux", Architecture: "amd64"}}
		}
		ts := make([]target, len(ps))
		for i, p := range ps {
			ts[i] = target{platform: p, base: scratch(&p)}
		}
		return ts, nil
	}
	im, err := base.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("image: base index: %w", err)
	}
	var ts []target
	var have []string
	matched := make([]bool, len(o.platforms))
	for _, d := range im.Manifests {
		t, ok, err := indexTarget(base, d)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		have = append(have, t.platform.String())
		keep := len(o.platforms) == 0
		for i, want := range o.platforms {
			if t.platform.Satisfies(want) {
				matched[i], keep = true, true
			}
		}
		if keep {
			ts = append(ts, t)
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, fmt.Errorf("image: platform %s not in base index (it has %s): %w", o.platforms[i].String(), strings.Join(have, ", "), ErrNotFound)
		}
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("image: base index has no platform images: %w", ErrNotFound)
	}
	return ts, nil
}

// indexTarget reads the base image of one index entry; ok is false for
// entries that are not platform images.
func indexTarget(base v1.ImageIndex, d v1.Descriptor) (target, bool, error) {
	if d.MediaType.IsIndex() {
		return target{}, false, fmt.Errorf("image: base index holds a nested index %s: %w", d.Digest, ErrUnsupportedBase)
	}
	if !d.MediaType.IsImage() || isAttestation(d) {
		return target{}, false, nil
	}
	img, err := base.Image(d.Digest)
	if err != nil {
		return target{}, false, fmt.Errorf("image: base image %s: %w", d.Digest, err)
	}
	b, err := readBase(img, nil)
	if err != nil {
		return target{}, false, fmt.Errorf("image: base image %s: %w", d.Digest, err)
	}
	var plat v1.Platform
	if d.Platform != nil {
		plat = *d.Platform
	} else if p := b.cf.Platform(); p != nil {
		plat = *p
	}
	if plat.OS == "" || plat.OS == "unknown" {
		return target{}, false, nil
	}
	return target{platform: plat, base: b}, true, nil
}

// platformLayers asks WithPlatformLayers for each target's layers.
func platformLayers(o *options, ts []target) error {
	if o.platformLayers == nil {
		return nil
	}
	for i := range ts {
		ls, err := o.platformLayers(ts[i].platform)
		if err != nil {
			return fmt.Errorf("image: layers for platform %s: %w", ts[i].platform.String(), err)
		}
		for j, l := range ls {
			if l == nil {
				return fmt.Errorf("image: layer %d for platform %s is nil", j, ts[i].platform.String())
			}
		}
		ts[i].extra = ls
	}
	return nil
}

// indexFamily decides the family of the index and of every image in it.
func indexFamily(base v1.ImageIndex, o *options, ts []target) (mediatype.Family, error) {
	fam := mediatype.OCI
	if base != nil {
		mt, err := base.MediaType()
		if err != nil {
			return 0, fmt.Errorf("image: media type of base index: %w", err)
		}
		if fam, err = mediatype.FamilyOf(mt); err != nil {
			return 0, fmt.Errorf("image: %w: %w", ErrUnsupportedBase, err)
		}
	}
	if o.oci {
		return mediatype.OCI, nil
	}
	for _, t := range ts {
		kinds := append([]mediatype.Kind(nil), t.base.kinds...)
		for _, l := range append(append([]v1.Layer(nil), o.layers...), t.extra...) {
			mt, err := l.MediaType()
			if err != nil {
				return 0, fmt.Errorf("image: media type of layer: %w", err)
			}
			if k, ok := mediatype.LayerKind(mt); ok {
				kinds = append(kinds, k)
			}
		}
		if !fits(fam, kinds) {
			return mediatype.OCI, nil
		}
	}
	return fam, nil
}

// isAttestation reports index entries that are not platform images:
// BuildKit attestation manifests and other unknown/unknown entries.
func isAttestation(d v1.Descriptor) bool {
	if _, ok := d.Annotations["vnd.docker.reference.type"]; ok {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// rawIndex is the part of an index its manifest's bytes tell, for the
// index types of this package to embed.
type rawIndex struct {
	mt  types.MediaType
	raw []byte
}

func (i *rawIndex) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *rawIndex) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *rawIndex) RawManifest() ([]byte, error)        { return bytes.Clone(i.raw), nil }
func (i *rawIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(i.raw))
	return h, err
}
func (i *rawIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

// builtIndex is an index whose manifest is computed.
type builtIndex struct {
	rawIndex
	children map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*builtIndex)(nil)

func (i *builtIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.children[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image: no image %s in index: %w", h, ErrNotFound)
}
func (i *builtIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("image: no index %s in index: %w", h, ErrNotFound)
}
