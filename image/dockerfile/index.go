package dockerfile

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// indexOf puts the image of each platform in an OCI image index, in the
// order of platforms (the images are OCI: every commit asks for OCI media
// types, as BuildKit writes them).
func indexOf(imgs []v1.Image, platforms []v1.Platform) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, len(imgs))
	for i, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		p := platforms[i]
		if have := cf.Platform(); have != nil {
			p = *have
		}
		adds[i] = mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}}
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if _, err := idx.Digest(); err != nil {
		return nil, fmt.Errorf("making the index: %w", err)
	}
	return idx, nil
}
