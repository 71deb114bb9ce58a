package image

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// ToOCI returns a with OCI media types: an image or index of the Docker
// family is rewritten (manifest, config descriptor, every layer, and the
// images of an index), with the same layer and config bytes; one of the
// OCI family is returned as it is. Manifests change, so their digests do,
// as when `skopeo copy` writes into an oci: layout.
func ToOCI(a Artifact) (Artifact, error) {
	mt, err := a.MediaType()
	if err != nil {
		return nil, err
	}
	switch mt {
	case types.DockerManifestSchema2:
		img, ok := a.(v1.Image)
		if !ok {
			return nil, fmt.Errorf("image: %s artifact of type %T is not a v1.Image", mt, a)
		}
		return imageToOCI(img)
	case types.DockerManifestList:
		idx, ok := a.(v1.ImageIndex)
		if !ok {
			return nil, fmt.Errorf("image: %s artifact of type %T is not a v1.ImageIndex", mt, a)
		}
		return indexToOCI(idx)
	}
	return a, nil
}

func imageToOCI(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(layers) != len(m.Layers) {
		return nil, fmt.Errorf("image: %d layers, manifest lists %d", len(layers), len(m.Layers))
	}
	out := m.DeepCopy()
	out.MediaType = mediatype.OCI.Manifest()
	out.Config.MediaType = mediatype.OCI.Config()
	ls := make([]v1.Layer, len(layers))
	for i, d := range m.Layers {
		k, ok := mediatype.LayerKind(d.MediaType)
		if !ok {
			return nil, fmt.Errorf("image: layer %d has media type %q: %w", i, d.MediaType, ErrUnsupportedBase)
		}
		mt, ok := mediatype.OCI.Layer(k)
		if !ok {
			return nil, fmt.Errorf("image: layer %d of media type %q has no OCI type", i, d.MediaType)
		}
		out.Layers[i].MediaType = mt
		ls[i] = retype(layers[i], d.MediaType, mt)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	c, err := newBuiltImage(out.MediaType, raw, cfg, ls)
	if err != nil {
		return nil, err
	}
	if b, ok := img.(*builtImage); ok {
		c.made = b.made // the same build: the same facts
	}
	return c, nil
}

func indexToOCI(idx v1.ImageIndex) (v1.ImageIndex, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := im.DeepCopy()
	out.MediaType = mediatype.OCI.Index()
	children := map[v1.Hash]v1.Image{}
	for i, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			return nil, fmt.Errorf("image: index entry %s has media type %q: only images can be converted", d.Digest, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		c, err := imageToOCI(img)
		if err != nil {
			return nil, fmt.Errorf("image: index entry %s: %w", d.Digest, err)
		}
		cd, _, err := describeArtifact(c)
		if err != nil {
			return nil, err
		}
		out.Manifests[i].MediaType, out.Manifests[i].Digest, out.Manifests[i].Size = cd.MediaType, cd.Digest, cd.Size
		children[cd.Digest] = c
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return &builtIndex{rawIndex: rawIndex{out.MediaType, raw}, children: children}, nil
}
