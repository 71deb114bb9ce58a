package registry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// Two machines share a layer cache in a registry: the second finds the
// layer the first built, and its push mounts it from the cache repository
// instead of uploading it.
func ExampleNewLayerCache() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cache, err := registry.NewLayerCache(srv.Ref("team/cache"))
	if err != nil {
		log.Fatal(err)
	}

	machine := func(target string) {
		l, err := layer.FromFiles([]layer.File{{Path: "/app/hello.txt", Data: []byte("hello\n")}},
			layer.WithRemoteCache(cache),
			layer.WithCacheEvents(func(e layer.CacheEvent) { fmt.Println(e.Kind) }))
		if err != nil {
			log.Fatal(err)
		}
		img, err := image.Build(ctx, nil, image.WithLayers(l))
		if err != nil {
			log.Fatal(err)
		}
		srv.ResetStats()
		if _, err := registry.Push(ctx, target, img); err != nil {
			log.Fatal(err)
		}
		// The one blob uploaded is the image's config.
		st := srv.Stats()
		fmt.Println("mounted:", st.Mounts, "uploaded:", st.BlobUploads)
	}
	machine(srv.Ref("team/app:a"))
	machine(srv.Ref("team/app-b:b"))
	// Output:
	// remote cache miss
	// stored in remote cache
	// mounted: 1 uploaded: 1
	// remote cache hit
	// mounted: 1 uploaded: 1
}
