package image_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
)

// Write an image as a `docker load` tarball: `docker load -i app.tar`
// then knows it as example.com/app:v1. Its manifest.json names the tag,
// the config and the layers.
func ExampleWriteDockerTarball() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "docker")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := layer.FromFiles([]layer.File{{Path: "/app/server", Data: []byte("#!/bin/sh\n"), Mode: 0o755}})
	if err != nil {
		log.Fatal(err)
	}
	img, err := image.Build(ctx, nil, image.WithLayers(l), image.WithEntrypoint("/app/server"))
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "app.tar")
	if err := image.WriteDockerTarball(ctx, path, "example.com/app:v1", img); err != nil {
		log.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags, Layers []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			log.Fatal(err)
		}
		fmt.Println(len(m), m[0].RepoTags, len(m[0].Layers))
	}
	// Output: 1 [example.com/app:v1] 1
}
