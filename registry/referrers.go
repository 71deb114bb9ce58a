package registry

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushReferrers pushes artifacts — OCI manifests whose subject is an image
// or index in the repository of repo (for example SBOMs and provenance, or
// signatures) — to that repository, by digest, and returns their digest
// references. Push the subject first.
//
// Where the registry serves the OCI referrers API, it lists them itself.
// Where it does not (Docker Distribution 2.8 and other registries of before
// OCI 1.1), each subject's referrers are also listed in an index tagged
// "sha256-<hex of the subject>", the distribution specification's fallback
// scheme, updated by reading, adding and writing it back; artifacts are
// pushed one at a time so that two of them never race on that tag (two
// processes pushing referrers of the same subject at once still may).
// Blobs are sent and requests retried as [Push] does.
func PushReferrers(ctx context.Context, repo string, artifacts []v1.Image, opts ...Option) ([]name.Digest, error) {
	c, r, err := begin(ctx, repo, opts)
	if err != nil {
		return nil, err
	}
	out := make([]name.Digest, 0, len(artifacts))
	for i, a := range artifacts {
		if a == nil {
			return out, fmt.Errorf("registry: pushing referrers to %s: artifact %d is nil", r.Context(), i)
		}
		m, err := a.Manifest()
		if err != nil {
			return out, c.explain("pushing referrer", r, err)
		}
		if m.Subject == nil {
			return out, fmt.Errorf("registry: pushing referrers to %s: artifact %d has no subject", r.Context(), i)
		}
		h, err := a.Digest()
		if err != nil {
			return out, c.explain("pushing referrer", r, err)
		}
		d := r.Context().Digest(h.String())
		if err := remote.Write(d, a, c.remoteOptions()...); err != nil {
			return out, c.explain("pushing referrer of "+m.Subject.Digest.String(), d, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Referrers returns the descriptors of the manifests that refer to the
// manifest ref names (by tag or digest): those whose subject it is, with
// their artifactType and annotations, sorted by digest. With a non-empty
// artifactType only those of that type are returned. It asks the
// registry's referrers API and, where the registry does not serve it,
// reads the fallback tag "sha256-<hex>" ([PushReferrers]); a manifest
// without referrers has none, which is not an error. Fetch an artifact's
// content with [Pull] of its digest in the same repository.
func Referrers(ctx context.Context, ref, artifactType string, opts ...Option) ([]v1.Descriptor, error) {
	c, r, err := begin(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	d, ok := r.(name.Digest)
	if !ok {
		desc, err := remote.Head(r, c.remoteOptions()...)
		if err != nil {
			return nil, c.explain("listing referrers of", r, err)
		}
		d = r.Context().Digest(desc.Digest.String())
	}
	ropts := c.remoteOptions()
	if artifactType != "" {
		ropts = append(ropts, remote.WithFilter("artifactType", artifactType))
	}
	idx, err := remote.Referrers(d, ropts...)
	if err != nil {
		return nil, c.explain("listing referrers of", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, c.explain("listing referrers of", d, err)
	}
	out := slices.Clone(im.Manifests)
	slices.SortFunc(out, func(a, b v1.Descriptor) int { return cmp.Compare(a.Digest.String(), b.Digest.String()) })
	return out, nil
}
