package main

import (
	"context"
	"fmt"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
)

// referrersName is the name of an entry holding the referrers (SBOM,
// provenance) of the artifact of digest sha256:<hex>, as goapp and
// toolchain write them beside their image (attest.OCIEntries,
// attest.WriteOCILayout), under attest.FallbackTag of its digest.
var referrersName = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// isReferrers reports whether the layout entry d holds referrers.
func isReferrers(d v1.Descriptor) bool {
	return d.MediaType.IsIndex() && referrersName.MatchString(d.Annotations[image.RefNameAnnotation])
}

// referrersOf returns the artifacts of l's referrers entries whose
// subject is a (or, for an index, one of its images).
func referrersOf(l *image.Layout, a image.Artifact) ([]v1.Image, error) {
	tags := map[string]bool{} // the fallback tags of the subjects
	d, err := a.Digest()
	if err != nil {
		return nil, err
	}
	tags[attest.FallbackTag(d)] = true
	if idx, ok := a.(v1.ImageIndex); ok {
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range im.Manifests {
			tags[attest.FallbackTag(m.Digest)] = true
		}
	}
	im, err := l.Index().IndexManifest()
	if err != nil {
		return nil, err
	}
	var arts []v1.Image
	for _, e := range im.Manifests {
		name := e.Annotations[image.RefNameAnnotation]
		if !isReferrers(e) || !tags[name] {
			continue
		}
		idx, err := l.Index().ImageIndex(e.Digest)
		if err != nil {
			return nil, err
		}
		rm, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		for _, m := range rm.Manifests {
			art, err := idx.Image(m.Digest)
			if err != nil {
				return nil, fmt.Errorf("referrers %s: %w", name, err)
			}
			arts = append(arts, art)
		}
	}
	return arts, nil
}

// pushReferrers pushes the artifacts of l that refer to a, pushed to the
// repository of target, and returns how many there were.
func pushReferrers(ctx context.Context, l *image.Layout, a image.Artifact, target string, opts []registry.Option) (int, error) {
	if l == nil {
		return 0, nil
	}
	arts, err := referrersOf(l, a)
	if err != nil || len(arts) == 0 {
		return 0, err
	}
	ref, err := name.ParseReference(target)
	if err != nil {
		return 0, err
	}
	if _, err := registry.PushReferrers(ctx, ref.Context().Name(), arts, opts...); err != nil {
		return 0, fmt.Errorf("pushing the referrers (SBOM, provenance): %w", err)
	}
	return len(arts), nil
}
