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

var layerKinds = map[types.MediaType]Kind{
	types.OCILayer:                       {Compression: compress.Gzip},
	types.DockerLayer:                    {Compression: compress.Gzip},
	types.OCILayerZStd:                   {Compression: compress.Zstd},
	types.OCIUncompressedLayer:           {Compression: compress.None},
	types.DockerUncompressedLayer:        {Compression: compress.None},
	types.OCIRestrictedLayer:             {Compression: compress.Gzip, Foreign: true},
	types.DockerForeignLayer:             {Compression: compress.Gzip, Foreign: true},
	types.OCIUncompressedRestrictedLayer: {Compression: compress.None, Foreign: true},
}

// LayerKind returns the kind of a layer media type, and false for a type
// that is not a layer type this project knows.
func LayerKind(mt types.MediaType) (Kind, bool) {
	k, ok := layerKinds[mt]
	return k, ok
}

// Layer returns the media type of kind k in family f, and false when f
// cannot express k (zstd, or uncompressed foreign layers, in Docker).
func (f Family) Layer(k Kind) (types.MediaType, bool) {
	if f == Docker {
		switch {
		case k.Foreign && k.Compression == compress.Gzip:
			return types.DockerForeignLayer, true
		case k.Foreign:
			return "", false
		case k.Compression == compress.Gzip:
			return types.DockerLayer, true
		case k.Compression == compress.None:
			return types.DockerUncompressedLayer, true
		}
		return "", false
	}
	switch {
	case k.Foreign && k.Compression == compress.Gzip:
		return types.OCIRestrictedLayer, true
	case k.Foreign && k.Compression == compress.None:
		return types.OCIUncompressedRestrictedLayer, true
	case k.Foreign:
		return "", false
	case k.Compression == compress.Gzip:
		return types.OCILayer, true
	case k.Compression == compress.Zstd:
		return types.OCILayerZStd, true
	case k.Compression == compress.None:
		return types.OCIUncompressedLayer, true
	}
	return "", false
}
