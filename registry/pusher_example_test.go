package registry_test

import (
	"context"
	"fmt"
	"log"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// Send each layer as soon as it exists, then push the image: Push sends
// only the config and the manifest. With image.Build, pass
// image.WithLayerBuilt(p.Upload) instead of calling Upload by hand.
func ExampleNewPusher() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	p, err := registry.NewPusher(ctx, srv.Ref("team/app:v1"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	var layers []v1.Layer
	for range 3 {
		l, err := random.Layer(4096, types.OCILayer) // a layer built
		if err != nil {
			log.Fatal(err)
		}
		p.Upload(l) // sent in the background while the next is built
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layers...)
	if err != nil {
		log.Fatal(err)
	}
	_, err = p.Push(img) // waits for the uploads, then sends the rest
	if err != nil {
		log.Fatal(err)
	}
	st := srv.Stats()
	fmt.Println("blobs uploaded:", st.BlobUploads, "manifests:", st.ManifestPUTs)
	// Output:
	// blobs uploaded: 4 manifests: 1
}
