package cli

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
)

// attachAttestations pushes the SBOM and provenance of a, pushed to
// target (see package attest, made from what image.Build recorded, and o),
// as referrers of each platform image. It returns how many it attached.
func attachAttestations(ctx context.Context, a image.Artifact, target string, o attest.Options, opts ...registry.Option) (int, error) {
	r, err := name.ParseReference(target)
	if err != nil {
		return 0, err
	}
	if o.Name == "" {
		o.Name = r.Context().Name()
	}
	arts, err := attest.Of(ctx, a, o)
	if err != nil {
		return 0, err
	}
	if _, err := registry.PushReferrers(ctx, target, arts, opts...); err != nil {
		return 0, fmt.Errorf("attaching the SBOM and provenance: %w", err)
	}
	return len(arts), nil
}

// writeAttested writes a to the OCI tarball file, named refName, with its
// SBOM and provenance (see package attest, made from what image.Build
// recorded, and o) as the referrers tag scheme keeps them: the image goes
// in converted to OCI media types, so that the artifacts' subject is the
// manifest the tarball holds. It returns "FILE@sha256:..." and the number
// of artifacts attached.
func writeAttested(ctx context.Context, a image.Artifact, file, refName string, o attest.Options) (ref string, attached int, err error) {
	oci, err := image.ToOCI(a)
	if err != nil {
		return "", 0, err
	}
	if o.Name == "" {
		o.Name = refName
	}
	arts, err := attest.Of(ctx, oci, o)
	if err != nil {
		return "", 0, err
	}
	wopts, err := attest.OCIEntries(arts...)
	if err != nil {
		return "", 0, err
	}
	if refName != "" {
		wopts = append(wopts, image.WithRefName(refName))
	}
	if err := image.WriteOCITarball(ctx, file, oci, wopts...); err != nil {
		return "", 0, err
	}
	h, err := oci.Digest()
	if err != nil {
		return "", 0, err
	}
	return file + "@" + h.String(), len(arts), nil
}
