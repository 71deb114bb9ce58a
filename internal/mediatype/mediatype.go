// Package mediatype holds what the project knows about media types, in
// one place: which compression a layer media type names, which family (OCI
// or Docker schema 2) a manifest belongs to, and the type of each kind of
// blob in each family.
package mediatype

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/compress"
)

// Family is a media type family: every type of an image the project
// writes (index, manifest, config, layers) is of one family.
type Family int

// Families.
const (
	OCI Family = iota
	Docker
)

func (f Family) String() string {
	if f == Docker {
		return "Docker schema 2"
	}
	return "OCI"
}

// Manifest is the image manifest type of f.
func (f Family) Manifest() types.MediaType {
	if f == Docker {
		return types.DockerManifestSchema2
	}
	return types.OCIManifestSchema1
}

// Config is the image config type of f.
func (f Family) Config() types.MediaType {
	if f == Docker {
		return types.DockerConfigJSON
	}
	return types.OCIConfigJSON
}

// Index is the index (manifest list) type of f.
func (f Family) Index() types.MediaType {
	if f == Docker {
		return types.DockerManifestList
	}
	return types.OCIImageIndex
}

// FamilyOf returns the family of an image or index manifest type.
func FamilyOf(mt types.MediaType) (Family, error) {
	switch mt {
	case types.OCIManifestSchema1, types.OCIImageIndex:
		return OCI, nil
	case types.DockerManifestSchema2, types.DockerManifestList:
		return Docker, nil
	}
	return 0, fmt.Errorf("manifest media type %q is neither OCI nor Docker schema 2", mt)
}

// Kind is what a layer media type says about its bytes: their
// compression, and whether the layer is non-distributable (Docker
// "foreign").
type Kind struct {
	Compression compress.Format
	Foreign     bool
}

// layerTypes are the layer media types the project knows, each with its
// family and what it says of its bytes: the one table behind LayerKind and
// Family.Layer.
var layerTypes = []struct {
	mt     types.MediaType
	family Family
	kind   Kind
}{
	{types.OCILayer, OCI, Kind{Compression: compress.Gzip}},
	{types.OCILayerZStd, OCI, Kind{Compression: compress.Zstd}},
	{types.OCIUncompressedLayer, OCI, Kind{Compression: compress.None}},
	{types.OCIRestrictedLayer, OCI, Kind{Compression: compress.Gzip, Foreign: true}},
	{types.OCIUncompressedRestrictedLayer, OCI, Kind{Compression: compress.None, Foreign: true}},
	{types.DockerLayer, Docker, Kind{Compression: compress.Gzip}},
	{types.DockerUncompressedLayer, Docker, Kind{Compression: compress.None}},
	{types.DockerForeignLayer, Docker, Kind{Compression: compress.Gzip, Foreign: true}},
}

// LayerKind returns the kind of a layer media type, and false for a type
// that is not a layer type this project knows.
func LayerKind(mt types.MediaType) (Kind, bool) {
	for _, l := range layerTypes {
		if l.mt == mt {
			return l.kind, true
		}
	}
	return Kind{}, false
}

// Layer returns the media type of kind k in family f, and false when f
// cannot express k (zstd, or uncompressed foreign layers, in Docker).
func (f Family) Layer(k Kind) (types.MediaType, bool) {
	if f != Docker {
		f = OCI
	}
	for _, l := range layerTypes {
		if l.family == f && l.kind == k {
			return l.mt, true
		}
	}
	return "", false
}
