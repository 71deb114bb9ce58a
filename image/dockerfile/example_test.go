package dockerfile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/image/dockerfile"
)

// A tiny Go image's release stage, built without a daemon: ADD of the
// binary, an ENTRYPOINT, docker's config and history.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "app"), []byte("\x7fELF..."), 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nADD app /\nENTRYPOINT [\"/app\"]\n"), 0o644)

	img, err := dockerfile.Build(context.Background(),
		dockerfile.WithContextDir(dir),
		dockerfile.WithPlatforms("linux/amd64"))
	if err != nil {
		fmt.Println(err)
		return
	}
	cf, _ := img.ConfigFile()
	fmt.Println("entrypoint:", cf.Config.Entrypoint)
	for _, h := range cf.History {
		fmt.Printf("history: %s (empty_layer=%v)\n", h.CreatedBy, h.EmptyLayer)
	}
	// Output:
	// entrypoint: [/app]
	// history: ADD app / # buildkit (empty_layer=false)
	// history: ENTRYPOINT ["/app"] (empty_layer=true)
}

// RUN needs a container runtime: the build stops before any work, naming
// the file, the line and the instruction.
func ExampleBuild_run() {
	_, err := dockerfile.Build(context.Background(),
		dockerfile.WithDockerfileContent([]byte("FROM alpine\nRUN apk add curl\n")),
		dockerfile.WithResolver(func(context.Context, string, v1.Platform) (v1.Image, error) {
			panic("not reached: nothing is resolved")
		}))
	fmt.Println(err)
	// Output:
	// Dockerfile:2: RUN apk add curl: dockerfile: instruction needs a container runtime: RUN executes a command in a container; this Dockerfile needs a container runtime (stevedore builds Dockerfiles whose stages only COPY, ADD and set metadata)
}
