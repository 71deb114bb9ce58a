package progressbar_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/progressbar"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// Written to a file or a buffer, as in CI logs, the renderer prints one
// line per blob and per manifest; on a terminal it draws a bar per blob.
func ExampleNew() {
	ctx := context.Background()
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	img, err := srv.SeedImage(ctx, "base:latest")
	if err != nil {
		log.Fatal(err)
	}

	var out bytes.Buffer // os.Stderr in a program
	r := progressbar.New(&out)
	_, err = registry.Push(ctx, srv.Ref("copy:latest"), img, registry.WithProgress(r.Update))
	r.Close()
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		fields := strings.Fields(line)
		// Drop the digests and sizes, which are random here.
		ref := strings.TrimPrefix(fields[0], srv.Host+"/")
		if fields[1] == "blob" {
			fmt.Println(ref, "blob", fields[3])
		} else {
			fmt.Println(ref, fields[1], fields[2])
		}
	}
	// Unordered output:
	// copy:latest: blob uploaded
	// copy:latest: blob uploaded
	// copy:latest: blob uploaded
	// copy:latest: manifest pushed
}
