package attest

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"
)

// The helpers below serve the package's tests and, exported here, its
// external tests (package attest_test) too.

// ArtifactDigests returns the digests of arts, in order.
func ArtifactDigests(t testing.TB, arts []v1.Image) []string {
	t.Helper()
	var out []string
	for _, a := range arts {
		h, err := a.Digest()
		require.NoError(t, err)
		out = append(out, h.String())
	}
	return out
}

// SubjectCounts counts arts by the digest of their subject.
func SubjectCounts(t testing.TB, arts []v1.Image) map[v1.Hash]int {
	t.Helper()
	subjects := map[v1.Hash]int{}
	for _, a := range arts {
		m, err := a.Manifest()
		require.NoError(t, err)
		require.NotNil(t, m.Subject, "subject of artifact %s", m.ArtifactType)
		subjects[m.Subject.Digest]++
	}
	return subjects
}
