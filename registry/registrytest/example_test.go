package registrytest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// A registry that fails every second request: ggcr's remote package retries.
func Example() {
	srv, err := registrytest.Start(registrytest.WithFaults(registrytest.FailEvery(2, http.StatusServiceUnavailable)))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	img, err := srv.SeedImage(context.Background(), "app:v1") // seeding skips faults
	if err != nil {
		log.Fatal(err)
	}
	ref, _ := name.ParseReference(srv.Ref("app:v1"))
	got, err := remote.Image(ref)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := got.ConfigFile(); err != nil { // one more request
		log.Fatal(err)
	}
	a, _ := img.Digest()
	b, _ := got.Digest()
	fmt.Println("same image:", a == b)
	fmt.Println("faults injected:", srv.Stats().Faults > 0)
	// Output:
	// same image: true
	// faults injected: true
}
