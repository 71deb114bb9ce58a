package registry

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
)

// TestIntegrationReferrersDistribution pushes referrers to Docker
// Distribution 2.8 (Debian's docker-registry, with htpasswd), which has no
// referrers API: they must be listed under the fallback tag, and found by
// Referrers and by go-containerregistry's remote.Referrers, for an image
// and for each image of an index.
func TestIntegrationReferrersDistribution(t *testing.T) {
	const user, pass = "stevedore", "referrers-secret"
	d := itest.StartDistribution(t, user, pass, nil, nil)
	ctx := ctxT(t)
	auth := WithBasicAuth(user, pass)

	img, _ := pushRandom(t, d.Ref("app:v1"), 1000, auth, fast)
	checkReferrers(t, d.Host, "app", []v1.Descriptor{describe(t, img)}, true, auth, fast)
	// A second round adds to the fallback index rather than replacing it.
	checkReferrersAdded(t, d.Host, "app", describe(t, img), auth, fast)

	idx, err := random.Index(512, 1, 2)
	require.NoError(t, err)
	_, err = PushIndex(ctx, d.Ref("multi:v1"), idx, auth, fast)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	checkReferrers(t, d.Host, "multi", im.Manifests, true, auth, fast)
}

// checkReferrersAdded pushes one more artifact and checks that the earlier
// referrers are still listed.
func checkReferrersAdded(t *testing.T, host, repo string, subject v1.Descriptor, opts ...Option) {
	ctx := ctxT(t)
	ref := host + "/" + repo + "@" + subject.Digest.String()
	before, err := Referrers(ctx, ref, "", opts...)
	require.NoError(t, err)
	extra := testArtifact(t, subject, "application/vnd.dev.sigstore.bundle.v0.3+json", `{"sig":"x"}`)
	_, err = PushReferrers(ctx, host+"/"+repo, []v1.Image{extra}, opts...)
	require.NoError(t, err)
	after, err := Referrers(ctx, ref, "", opts...)
	require.NoError(t, err)
	require.Len(t, after, len(before)+1, "Referrers(%s) after one more", ref)
}
