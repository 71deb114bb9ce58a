package registrytest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

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

// An SBOM pushed as a referrer of an image, then found through the OCI
// referrers API, filtered by artifact type.
func ExampleServer_referrers() {
	srv, err := registrytest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	img, err := srv.SeedImage(context.Background(), "app:v1")
	if err != nil {
		log.Fatal(err)
	}
	subject, err := partial.Descriptor(img)
	if err != nil {
		log.Fatal(err)
	}
	const sbomType = "application/vnd.example.sbom+json"
	artifact := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), sbomType)
	sbom := mutate.Subject(artifact, *subject).(v1.Image)
	tag, err := name.ParseReference(srv.Ref("app:sbom"))
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(tag, sbom); err != nil {
		log.Fatal(err)
	}

	ref, err := name.NewDigest(srv.Ref("app@" + subject.Digest.String()))
	if err != nil {
		log.Fatal(err)
	}
	idx, err := remote.Referrers(ref, remote.WithFilter("artifactType", sbomType))
	if err != nil {
		log.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		log.Fatal(err)
	}
	want, _ := sbom.Digest()
	for _, d := range im.Manifests {
		fmt.Println(d.ArtifactType, d.Digest == want)
	}
	// Output:
	// application/vnd.example.sbom+json true
}
