package image

import (
	"fmt"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/epoch"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// Referenced is implemented by images and indexes that know the
// reference they were pulled by (those of package registry do). [Build]
// and [BuildIndex] name such a base in the annotations
// org.opencontainers.image.base.name and .base.digest.
type Referenced interface {
	Reference() name.Reference
}

// baseImage is what Build needs of its base.
type baseImage struct {
	img    v1.Image // nil for scratch
	cf     *v1.ConfigFile
	family mediatype.Family
	descs  []v1.Descriptor
	kinds  []mediatype.Kind
	layers []v1.Layer
	name   string // the reference it was pulled by, or ""
}

// scratch is the base of an image built from nothing, for platform p
// (linux/amd64 when nil).
func scratch(p *v1.Platform) *baseImage {
	plat := v1.Platform{OS: "linux", Architecture: "amd64"}
	if p != nil {
		plat = *p
	}
	return &baseImage{
		family: mediatype.OCI,
		cf: &v1.ConfigFile{
			OS:           plat.OS,
			Architecture: plat.Architecture,
			Variant:      plat.Variant,
			OSVersion:    plat.OSVersion,
			OSFeatures:   plat.OSFeatures,
			Created:      v1.Time{Time: epoch.Default},
			RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}},
		},
	}
}

// readBase reads what Build needs of a base: its config, family, layer
// descriptors and layer objects. No layer is read. want, when set, must
// agree with the base's platform.
func readBase(base v1.Image, want *v1.Platform) (*baseImage, error) {
	if base == nil {
		return scratch(want), nil
	}
	mt, err := base.MediaType()
	if err != nil {
		return nil, fmt.Errorf("image: media type of base: %w", err)
	}
	fam, err := mediatype.FamilyOf(mt)
	if err != nil {
		return nil, fmt.Errorf("image: %w: %w", ErrUnsupportedBase, err)
	}
	m, err := base.Manifest()
	if err != nil {
		return nil, fmt.Errorf("image: manifest of base: %w", err)
	}
	if !m.Config.MediaType.IsConfig() {
		return nil, fmt.Errorf("image: base config has media type %q, not an image config: %w", m.Config.MediaType, ErrUnsupportedBase)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config of base: %w", err)
	}
	layers, err := base.Layers()
	if err != nil {
		return nil, fmt.Errorf("image: layers of base: %w", err)
	}
	if len(layers) != len(m.Layers) || len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image: base has %d manifest layers, %d layers and %d diff_ids: %w",
			len(m.Layers), len(layers), len(cf.RootFS.DiffIDs), ErrUnsupportedBase)
	}
	b := &baseImage{img: base, cf: cf.DeepCopy(), family: fam, descs: m.Layers, layers: layers}
	for i, d := range m.Layers {
		k, ok := mediatype.LayerKind(d.MediaType)
		if !ok {
			return nil, fmt.Errorf("image: base layer %d (%s) has media type %q: %w", i, d.Digest, d.MediaType, ErrUnsupportedBase)
		}
		b.kinds = append(b.kinds, k)
	}
	if want != nil {
		if have := cf.Platform(); have == nil || !have.Satisfies(*want) {
			return nil, fmt.Errorf("image: WithPlatform(%q), base is %s: %w", want.String(), platformString(have), ErrPlatformMismatch)
		}
	}
	if r, ok := base.(Referenced); ok {
		b.name = r.Reference().Name()
	}
	return b, nil
}

// created is the created time of the result: WithCreated, else
// SOURCE_DATE_EPOCH, else the base's (the Unix epoch when it has none).
func (b *baseImage) created(o *options) (time.Time, error) {
	if o.created != nil {
		return *o.created, nil
	}
	t := b.cf.Created.Time.UTC()
	if b.cf.Created.IsZero() {
		t = epoch.Default
	}
	return epoch.Or(t)
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "without platform"
	}
	return p.String()
}
