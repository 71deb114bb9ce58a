package exampletest

import (
	"bytes"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
)

// Attestations are the artifacts attached to one image: their payloads by
// artifactType.
type Attestations map[string][]byte

// SBOM parses the SPDX SBOM with the SPDX library.
func (a Attestations) SBOM(t testing.TB) *spdx.Document {
	t.Helper()
	raw, ok := a[attest.MediaTypeSPDX]
	require.True(t, ok, "an SPDX SBOM among %d artifacts", len(a))
	doc, err := spdxjson.Read(bytes.NewReader(raw))
	require.NoError(t, err, "the SBOM parses")
	return doc
}

// Packages lists the SBOM's packages: version by name.
func (a Attestations) Packages(t testing.TB) map[string]string {
	out := map[string]string{}
	for _, p := range a.SBOM(t).Packages {
		out[p.PackageName] = p.PackageVersion
	}
	return out
}

// TarballAttestations returns the artifacts whose subject is the manifest
// digest in the OCI tarball file, found as the referrers tag scheme keeps
// them (an index named "sha256-<hex>").
func TarballAttestations(t testing.TB, file, digest string) Attestations {
	t.Helper()
	h, err := v1.NewHash(digest)
	require.NoError(t, err)
	out := Attestations{}
	refs, err := readTarball(t, file).ImageIndex(attest.FallbackTag(h))
	if err != nil {
		return out // none
	}
	im, err := refs.IndexManifest()
	require.NoError(t, err)
	for _, d := range im.Manifests {
		art, err := refs.Image(d.Digest)
		require.NoError(t, err)
		addArtifact(t, out, art, h)
	}
	return out
}

// RegistryAttestations returns the artifacts that refer to ref (as printed:
// REF@sha256:...), found with go-containerregistry's remote.Referrers.
func RegistryAttestations(t testing.TB, ref string) Attestations {
	t.Helper()
	d, err := name.NewDigest(ref, name.Insecure)
	require.NoError(t, err)
	idx, err := remote.Referrers(d)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	out := Attestations{}
	h, err := v1.NewHash(d.DigestStr())
	require.NoError(t, err)
	for _, m := range im.Manifests {
		art, err := remote.Image(d.Context().Digest(m.Digest.String()))
		require.NoError(t, err)
		addArtifact(t, out, art, h)
	}
	return out
}

func addArtifact(t testing.TB, out Attestations, art v1.Image, subject v1.Hash) {
	t.Helper()
	m, err := art.Manifest()
	require.NoError(t, err)
	require.NotNil(t, m.Subject, "artifact %s has a subject", m.ArtifactType)
	require.Equal(t, subject, m.Subject.Digest, "subject of %s", m.ArtifactType)
	typ, b, err := attest.Payload(art)
	require.NoError(t, err)
	out[typ] = b
}
