package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// family is a media type family: every type of an image this package writes
// (index, manifest, config, layers) is of one family.
type family int

const (
	familyOCI family = iota
	familyDocker
)

func (f family) String() string {
	if f == familyDocker {
		return "Docker schema 2"
	}
	return "OCI"
}

func (f family) manifest() types.MediaType {
	if f == familyDocker {
		return types.DockerManifestSchema2
	}
	return types.OCIManifestSchema1
}

func (f family) config() types.MediaType {
	if f == familyDocker {
		return types.DockerConfigJSON
	}
	return types.OCIConfigJSON
}

func (f family) index() types.MediaType {
	if f == familyDocker {
		return types.DockerManifestList
	}
	return types.OCIImageIndex
}

// manifestFamily returns the family of an image or index manifest type.
func manifestFamily(mt types.MediaType) (family, error) {
	switch mt {
	case types.OCIManifestSchema1, types.OCIImageIndex:
		return familyOCI, nil
	case types.DockerManifestSchema2, types.DockerManifestList:
		return familyDocker, nil
	}
	return 0, fmt.Errorf("image: manifest media type %q is neither OCI nor Docker schema 2: %w", mt, ErrUnsupportedBase)
}

// compKind is what a layer media type says about its bytes.
type compKind int

const (
	gzipped compKind = iota
	zstded
	uncompressed
)

// layerKind is a layer media type taken apart: compKind, and whether the
// layer is non-distributable (Docker "foreign").
type layerKind struct {
	comp    compKind
	foreign bool
}

func kindOf(mt types.MediaType) (layerKind, bool) {
	switch mt {
	case types.OCILayer, types.DockerLayer:
		return layerKind{comp: gzipped}, true
	case types.OCILayerZStd:
		return layerKind{comp: zstded}, true
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		return layerKind{comp: uncompressed}, true
	case types.OCIRestrictedLayer, types.DockerForeignLayer:
		return layerKind{comp: gzipped, foreign: true}, true
	case types.OCIUncompressedRestrictedLayer:
		return layerKind{comp: uncompressed, foreign: true}, true
	}
	return layerKind{}, false
}

// layerType returns the media type of kind k in family f, and false when
// f cannot express k (zstd, or uncompressed foreign layers, in Docker).
func (f family) layerType(k layerKind) (types.MediaType, bool) {
	if f == familyDocker {
		switch {
		case k.foreign && k.comp == gzipped:
			return types.DockerForeignLayer, true
		case k.foreign:
			return "", false
		case k.comp == gzipped:
			return types.DockerLayer, true
		case k.comp == uncompressed:
			return types.DockerUncompressedLayer, true
		}
		return "", false
	}
	switch {
	case k.foreign && k.comp == gzipped:
		return types.OCIRestrictedLayer, true
	case k.foreign && k.comp == uncompressed:
		return types.OCIUncompressedRestrictedLayer, true
	case k.comp == gzipped:
		return types.OCILayer, true
	case k.comp == zstded:
		return types.OCILayerZStd, true
	case k.comp == uncompressed:
		return types.OCIUncompressedLayer, true
	}
	return "", false
}

// retyped is a layer with another media type and the same bytes.
type retyped struct {
	v1.Layer
	mt types.MediaType
}

var _ v1.Layer = (*retyped)(nil)

func (l *retyped) MediaType() (types.MediaType, error) { return l.mt, nil }

// CreatedBy passes on the history text of the layer inside.
func (l *retyped) CreatedBy() string { return createdBy(l.Layer) }

// retype returns l with media type mt, l itself when it has it already.
func retype(l v1.Layer, have, mt types.MediaType) v1.Layer {
	if have == mt {
		return l
	}
	if r, ok := l.(*retyped); ok {
		l = r.Layer
	}
	return &retyped{Layer: l, mt: mt}
}

// described is a layer with the history text given by WithLayerHistory.
type described struct {
	v1.Layer
	by string
}

func (l *described) CreatedBy() string { return l.by }

// createdBy returns the history text a layer carries (contract: layers of
// the layer package implement CreatedBy() string), or "".
func createdBy(l v1.Layer) string {
	if c, ok := l.(interface{ CreatedBy() string }); ok {
		return c.CreatedBy()
	}
	return ""
}
