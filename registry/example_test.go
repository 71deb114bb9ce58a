package registry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// Pull a base, add a layer, push the result: the base's layers are not
// downloaded, nor uploaded again.
func Example() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.SeedImage(ctx, "base:latest"); err != nil {
		log.Fatal(err)
	}

	base, err := registry.Pull(ctx, srv.Ref("base:latest"))
	if err != nil {
		log.Fatal(err)
	}
	layer, err := random.Layer(1024, types.OCILayer)
	if err != nil {
		log.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		log.Fatal(err)
	}
	srv.ResetStats()
	var uploaded, skipped int
	_, err = registry.Push(ctx, srv.Ref("base:app"), img, registry.WithProgress(func(p registry.Progress) {
		switch p.Event {
		case registry.EventUploaded:
			uploaded++
		case registry.EventSkipped:
			skipped++
		}
	}))
	if err != nil {
		log.Fatal(err)
	}
	st := srv.Stats()
	fmt.Println("uploaded:", uploaded, "skipped:", skipped)
	fmt.Println("base layers downloaded:", st.Downloads[digestOf(base, 0)]+st.Downloads[digestOf(base, 1)])
	// The pulled image remembers its reference (image.Build records it).
	ref := base.(interface{ Reference() name.Reference }).Reference()
	fmt.Println("pulled from:", ref.Context().RepositoryStr(), ref.Identifier())
	// Output:
	// uploaded: 2 skipped: 2
	// base layers downloaded: 0
	// pulled from: base latest
}

func digestOf(img v1.Image, i int) v1.Hash {
	ls, _ := img.Layers()
	h, _ := ls[i].Digest()
	return h
}

// Pull picks one platform out of an index; a missing one is an error
// listing those there are.
func ExampleWithPlatform() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.SeedIndex(ctx, "multi:latest", "linux/amd64", "linux/arm64/v8"); err != nil {
		log.Fatal(err)
	}
	img, err := registry.Pull(ctx, srv.Ref("multi:latest"), registry.WithPlatform("linux/arm64"))
	if err != nil {
		log.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	fmt.Println(cf.OS, cf.Architecture, cf.Variant)
	_, err = registry.Pull(ctx, srv.Ref("multi:latest"), registry.WithPlatform("windows/amd64"))
	fmt.Println(err != nil)
	// Output:
	// linux arm64 v8
	// true
}

// PullAny returns whatever a reference names, an image or an index, and
// PushAny pushes either: one code path copies both.
func ExamplePullAny() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.SeedImage(ctx, "app:single"); err != nil {
		log.Fatal(err)
	}
	if _, err := srv.SeedIndex(ctx, "app:multi", "linux/amd64", "linux/arm64"); err != nil {
		log.Fatal(err)
	}
	for _, tag := range []string{"single", "multi"} {
		a, err := registry.PullAny(ctx, srv.Ref("app:"+tag))
		if err != nil {
			log.Fatal(err)
		}
		kind := "image"
		if _, ok := a.(v1.ImageIndex); ok {
			kind = "index"
		}
		mt, err := a.MediaType()
		if err != nil {
			log.Fatal(err)
		}
		d, err := registry.PushAny(ctx, srv.Ref("copy:"+tag), a)
		if err != nil {
			log.Fatal(err)
		}
		h, err := a.Digest()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s (%s), copied as is: %v\n", tag, kind, mt, d.DigestStr() == h.String())
	}
	// Output:
	// single: image (application/vnd.oci.image.manifest.v1+json), copied as is: true
	// multi: index (application/vnd.oci.image.index.v1+json), copied as is: true
}
