package attest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/image"
)

// Referrers is the index of the referrers of one subject, and the tag the
// distribution specification's fallback scheme gives it.
type Referrers struct {
	// Tag is "sha256-" followed by the subject's hex digest.
	Tag string
	// Index lists the artifacts (with their artifactType and
	// annotations), sorted by digest; its children are the artifacts.
	Index v1.ImageIndex
}

// FallbackTag is the tag under which the distribution specification's
// referrers tag scheme keeps the index of the referrers of subject.
func FallbackTag(subject v1.Hash) string { return subject.Algorithm + "-" + subject.Hex }

// ReferrersIndexes groups artifacts by subject and returns, per subject in
// digest order, the index of its referrers that the fallback tag scheme
// keeps: what an OCI layout or a registry without the referrers API holds.
func ReferrersIndexes(artifacts ...v1.Image) ([]Referrers, error) {
	return referrersIndexes(nil, artifacts)
}

// referrersIndexes merges artifacts into the indexes existing returns for
// a subject (nil when there is none).
func referrersIndexes(existing func(tag string) (v1.ImageIndex, error), artifacts []v1.Image) ([]Referrers, error) {
	type entry struct {
		desc v1.Descriptor
		add  mutate.Appendable
	}
	bySubject := map[v1.Hash]map[v1.Hash]entry{}
	for _, a := range artifacts {
		m, err := a.Manifest()
		if err != nil {
			return nil, fmt.Errorf("attest: reading artifact: %w", err)
		}
		if m.Subject == nil {
			return nil, fmt.Errorf("%w: artifact without subject", ErrInvalidFacts)
		}
		d, err := Descriptor(a)
		if err != nil {
			return nil, err
		}
		s := m.Subject.Digest
		if bySubject[s] == nil {
			bySubject[s] = map[v1.Hash]entry{}
			if existing != nil {
				old, err := existing(FallbackTag(s))
				if err != nil {
					return nil, err
				}
				if old != nil {
					im, err := old.IndexManifest()
					if err != nil {
						return nil, fmt.Errorf("attest: referrers of %s: %w", s, err)
					}
					for _, od := range im.Manifests {
						img, err := old.Image(od.Digest)
						if err != nil {
							return nil, fmt.Errorf("attest: referrer %s of %s: %w", od.Digest, s, err)
						}
						bySubject[s][od.Digest] = entry{od, img}
					}
				}
			}
		}
		bySubject[s][d.Digest] = entry{d, a}
	}
	var out []Referrers
	for _, s := range slices.SortedFunc(maps.Keys(bySubject), func(a, b v1.Hash) int { return cmp.Compare(a.String(), b.String()) }) {
		es := bySubject[s]
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, h := range slices.SortedFunc(maps.Keys(es), func(a, b v1.Hash) int { return cmp.Compare(a.String(), b.String()) }) {
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: es[h].add, Descriptor: es[h].desc})
		}
		out = append(out, Referrers{Tag: FallbackTag(s), Index: idx})
	}
	return out, nil
}

// WriteOCILayout adds artifacts to the OCI image layout in dir, which
// must hold (or later receive) their subjects, as the referrers tag scheme
// does in a registry: for each subject, an index.json entry named
// "sha256-<hex of the subject>" (annotation
// org.opencontainers.image.ref.name) points to an index of its referrers,
// merged with the one already there. regclient reads referrers of an OCI
// layout this way, and oras finds them through the subject fields of the
// manifests index.json reaches. The image's own entry is untouched, but
// index.json then has more than one entry, so tools that pick "the only
// image" of a layout (skopeo copy oci:DIR without :NAME) need the image's
// name: write it with image.WithRefName.
//
// Each index is written with image.WriteOCILayout, atomically; a failure
// leaves the indexes written before it.
func WriteOCILayout(ctx context.Context, dir string, artifacts ...v1.Image) error {
	// index.json is read once: the indexes are written after every
	// subject's is known.
	lidx, err := layout.Path(dir).ImageIndex()
	var im *v1.IndexManifest
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("attest: layout %s: %w", dir, err)
	default:
		if im, err = lidx.IndexManifest(); err != nil {
			return fmt.Errorf("attest: layout %s: index.json: %w", dir, err)
		}
	}
	existing := func(tag string) (v1.ImageIndex, error) {
		if im == nil {
			return nil, nil
		}
		for _, d := range im.Manifests {
			if d.Annotations[image.RefNameAnnotation] == tag && d.MediaType.IsIndex() {
				return lidx.ImageIndex(d.Digest)
			}
		}
		return nil, nil
	}
	refs, err := referrersIndexes(existing, artifacts)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if err := image.WriteOCILayout(ctx, dir, r.Index, image.WithRefName(r.Tag)); err != nil {
			return fmt.Errorf("attest: writing referrers %s: %w", strings.TrimPrefix(r.Tag, "sha256-"), err)
		}
	}
	return nil
}

// OCIEntries returns the image.WithEntry options that carry artifacts in
// an OCI tarball (image.WriteOCITarball), as [WriteOCILayout] adds them
// to a layout: per subject, an index of its referrers named
// "sha256-<hex of the subject>". Give the main artifact a name with
// image.WithRefName: the tarball then has more than one entry.
func OCIEntries(artifacts ...v1.Image) ([]image.WriteOption, error) {
	refs, err := ReferrersIndexes(artifacts...)
	if err != nil {
		return nil, err
	}
	opts := make([]image.WriteOption, 0, len(refs))
	for _, r := range refs {
		opts = append(opts, image.WithEntry(r.Tag, r.Index))
	}
	return opts, nil
}
