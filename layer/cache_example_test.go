package layer_test

import (
	"fmt"
	"log"
	"os"

	"github.com/stevedore-dev/stevedore/layer"
)

// A layer cache: the second build of the same content is found by its
// key, whatever the directory or its files' times.
func ExampleWithCache() {
	cacheDir, err := os.MkdirTemp("", "layer-cache-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cacheDir)
	files := []layer.File{{Path: "/app/hello.txt", Data: []byte("hello\n")}}
	for range 2 {
		l, err := layer.FromFiles(files,
			layer.WithCache(cacheDir),
			layer.WithCacheLimit(1<<30),
			layer.WithCacheEvents(func(e layer.CacheEvent) { fmt.Println(e.Kind) }))
		if err != nil {
			log.Fatal(err)
		}
		if _, err := l.Digest(); err != nil {
			log.Fatal(err)
		}
	}
	// Empty the cache.
	if err := layer.PruneCache(cacheDir, 0); err != nil {
		log.Fatal(err)
	}
	// Output:
	// cache miss
	// cache hit
}
