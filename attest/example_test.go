package attest_test

import (
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/attest"
)

// The facts of a build (the layer pipeline and image.Build record them)
// become an SBOM and a provenance, each an artifact whose subject is the
// image, ready for registry.PushReferrers or attest.WriteOCILayout.
func Example() {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	sum := func(s string) v1.Hash { h, _, _ := v1.SHA256(strings.NewReader(s)); return h }
	facts := attest.Facts{
		Name:    "registry.example.com/team/app",
		Created: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		Base:    &attest.Base{Ref: "cgr.dev/chainguard/static:latest", Digest: sum("base")},
		Inputs: []attest.Input{
			{Kind: attest.KindURL, URI: "https://example.com/tool.tar.gz", Digest: sum("tool"), Destination: "/opt/tool"},
			{Kind: attest.KindDir, URI: "./dist", Digest: sum("dist"), Destination: "/app"},
		},
	}
	artifacts, err := attest.ForImage(img, facts)
	if err != nil {
		panic(err)
	}
	for _, a := range artifacts {
		m, _ := a.Manifest()
		fmt.Println(m.ArtifactType, m.Subject.Digest == mustDigest(img))
	}
	// Output:
	// application/spdx+json true
	// application/vnd.in-toto+json true
}

func mustDigest(img v1.Image) v1.Hash {
	h, err := img.Digest()
	if err != nil {
		panic(err)
	}
	return h
}
