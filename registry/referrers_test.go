package registry

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// testArtifact is an OCI artifact of type typ whose subject is subject:
// a config of media type typ (the pre-artifactType convention, which
// every registry accepts) and one layer holding payload.
func testArtifact(t testing.TB, subject v1.Descriptor, typ, payload string) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.MediaType(typ))
	img, err := mutate.AppendLayers(img, static.NewLayer([]byte(payload), types.MediaType(typ)))
	require.NoError(t, err)
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	return mutate.Subject(img, sub).(v1.Image)
}

func describe(t testing.TB, a partial.Describable) v1.Descriptor {
	t.Helper()
	d, err := partial.Descriptor(a)
	require.NoError(t, err)
	return *d
}

// servesReferrersAPI reports whether the registry at host (without
// authentication) answers the referrers API for repo.
func servesReferrersAPI(t testing.TB, host, repo string) bool {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/" + repo + "/referrers/sha256:" + strings.Repeat("0", 64))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// checkReferrers pushes two artifacts per image of subjects and checks that
// Referrers and go-containerregistry's remote.Referrers find them, by the
// API or, when fallback, the fallback tag.
func checkReferrers(t *testing.T, host, repo string, subjects []v1.Descriptor, fallback bool, opts ...Option) {
	ctx := ctxT(t)
	var arts []v1.Image
	want := map[v1.Hash][]v1.Hash{}
	for _, s := range subjects {
		a := testArtifact(t, s, "application/spdx+json", `{"spdxVersion":"SPDX-2.3","for":"`+s.Digest.Hex+`"}`)
		b := testArtifact(t, s, "application/vnd.in-toto+json", `{"_type":"https://in-toto.io/Statement/v1","for":"`+s.Digest.Hex+`"}`)
		arts = append(arts, a, b)
		want[s.Digest] = []v1.Hash{digest(t, a), digest(t, b)}
	}
	pushed, err := PushReferrers(ctx, host+"/"+repo, arts, opts...)
	require.NoError(t, err)
	require.Len(t, pushed, len(arts))

	c, err := newCall(ctx, opts)
	require.NoError(t, err)
	for _, s := range subjects {
		ref := host + "/" + repo + "@" + s.Digest.String()
		all, err := Referrers(ctx, ref, "", opts...)
		require.NoError(t, err)
		var got []v1.Hash
		for _, d := range all {
			got = append(got, d.Digest)
		}
		assert.ElementsMatch(t, want[s.Digest], got, "Referrers(%s, all)", ref)
		spdx, err := Referrers(ctx, ref, "application/spdx+json", opts...)
		require.NoError(t, err)
		if assert.Len(t, spdx, 1, "Referrers(%s, spdx)", ref) {
			assert.Equal(t, want[s.Digest][0], spdx[0].Digest)
			assert.Equal(t, "application/spdx+json", spdx[0].ArtifactType)
			// The document itself, pulled by digest.
			art, err := Pull(ctx, host+"/"+repo+"@"+spdx[0].Digest.String(), opts...)
			require.NoError(t, err)
			typ, doc, err := attest.Payload(art)
			require.NoError(t, err)
			assert.Equal(t, "application/spdx+json", typ, "attest.Payload(Pull(%s)) artifactType", spdx[0].Digest)
			assert.JSONEq(t, `{"spdxVersion":"SPDX-2.3","for":"`+s.Digest.Hex+`"}`, string(doc), "attest.Payload(Pull(%s))", spdx[0].Digest)
		}

		// go-containerregistry's own client finds them too.
		r, err := c.parse(ref)
		require.NoError(t, err)
		idx, err := remote.Referrers(r.(name.Digest), c.remoteOptions()...)
		require.NoError(t, err)
		im, err := idx.IndexManifest()
		require.NoError(t, err)
		got = got[:0]
		for _, d := range im.Manifests {
			got = append(got, d.Digest)
		}
		assert.ElementsMatch(t, want[s.Digest], got, "remote.Referrers(%s)", ref)

		// Where the registry has no referrers API, the fallback tag holds them.
		tag := host + "/" + repo + ":" + strings.Replace(s.Digest.String(), ":", "-", 1)
		tr, err := c.parse(tag)
		require.NoError(t, err)
		_, err = remote.Head(tr, c.remoteOptions()...)
		if fallback {
			assert.NoError(t, err, "fallback tag %s exists", tag)
		} else {
			assert.Error(t, err, "fallback tag %s with the referrers API", tag)
		}
	}
}

func TestReferrersImage(t *testing.T) {
	s := registrytest.New(t)
	img, _ := pushRandom(t, s.Ref("app:v1"), 256, fast)
	checkReferrers(t, s.Host, "app", []v1.Descriptor{describe(t, img)}, !servesReferrersAPI(t, s.Host, "app"), fast)

	// By tag: the tag is resolved to the image's digest.
	refs, err := Referrers(ctxT(t), s.Ref("app:v1"), "application/vnd.in-toto+json", fast)
	require.NoError(t, err)
	assert.Len(t, refs, 1, "Referrers(app:v1, in-toto)")
}

func TestReferrersIndexPerPlatform(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	idx, err := random.Index(256, 1, 2)
	require.NoError(t, err)
	_, err = PushIndex(ctx, s.Ref("multi:v1"), idx, fast)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	checkReferrers(t, s.Host, "multi", im.Manifests, !servesReferrersAPI(t, s.Host, "multi"), fast)
}

func TestReferrersNone(t *testing.T) {
	s := registrytest.New(t)
	_, d := pushRandom(t, s.Ref("app:v1"), 128, fast)
	refs, err := Referrers(ctxT(t), d.String(), "", fast)
	require.NoError(t, err)
	assert.Empty(t, refs, "Referrers(image without referrers)")
}

func TestPushReferrersRefusesArtifactWithoutSubject(t *testing.T) {
	s := registrytest.New(t)
	_, err := PushReferrers(ctxT(t), s.Ref("app"), []v1.Image{randomImage(t, 1, 16)}, fast)
	assert.ErrorContains(t, err, "no subject")
}

// TestReferrersAPI runs the same checks on a registry that serves the
// referrers API (go-containerregistry's, with referrers support): no
// fallback tag is written.
func TestReferrersAPI(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, _ := pushRandom(t, host+"/app:v1", 256, fast)
	require.True(t, servesReferrersAPI(t, host, "app"))
	checkReferrers(t, host, "app", []v1.Descriptor{describe(t, img)}, false, fast)
}
