package image

import (
	"bytes"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// builtImage is an image whose manifest and config are computed: every
// method but the layers' Compressed/Uncompressed is answered from memory.
type builtImage struct {
	mediaType   types.MediaType
	rawManifest []byte
	digest      v1.Hash
	rawConfig   []byte
	configName  v1.Hash
	layers      []v1.Layer
	digests     []v1.Hash
	diffIDs     []v1.Hash
	made        *made // what Build knew, for Facts; nil for other images
}

var _ v1.Image = (*builtImage)(nil)

func newBuiltImage(mt types.MediaType, rawManifest, rawConfig []byte, layers []v1.Layer) (*builtImage, error) {
	d, _, err := v1.SHA256(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, err
	}
	digests := make([]v1.Hash, len(m.Layers))
	for i, l := range m.Layers {
		digests[i] = l.Digest
	}
	diffIDs := cf.RootFS.DiffIDs
	c, _, err := v1.SHA256(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, err
	}
	return &builtImage{
		mediaType:   mt,
		rawManifest: rawManifest,
		digest:      d,
		rawConfig:   rawConfig,
		configName:  c,
		layers:      layers,
		digests:     digests,
		diffIDs:     diffIDs,
	}, nil
}

func (i *builtImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *builtImage) Size() (int64, error)                { return int64(len(i.rawManifest)), nil }
func (i *builtImage) Digest() (v1.Hash, error)            { return i.digest, nil }
func (i *builtImage) ConfigName() (v1.Hash, error)        { return i.configName, nil }

func (i *builtImage) RawManifest() ([]byte, error) {
	return bytes.Clone(i.rawManifest), nil
}

func (i *builtImage) Manifest() (*v1.Manifest, error) {
	return v1.ParseManifest(bytes.NewReader(i.rawManifest))
}

func (i *builtImage) RawConfigFile() ([]byte, error) {
	return bytes.Clone(i.rawConfig), nil
}

func (i *builtImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.rawConfig))
}

func (i *builtImage) Layers() ([]v1.Layer, error) {
	return append([]v1.Layer(nil), i.layers...), nil
}

func (i *builtImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == i.configName {
		return partial.ConfigLayer(i)
	}
	for j, d := range i.digests {
		if d == h {
			return i.layers[j], nil
		}
	}
	return nil, fmt.Errorf("image: no layer with digest %s in image %s", h, i.digest)
}

func (i *builtImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for j, d := range i.diffIDs {
		if d == h {
			return i.layers[j], nil
		}
	}
	return nil, fmt.Errorf("image: no layer with diff ID %s in image %s", h, i.digest)
}
