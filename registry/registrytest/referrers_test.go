package registrytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestReferrers(t *testing.T) {
	s := New(t)
	img, subject := seedImage(t, s, "app:v1")
	raw, err := img.RawManifest()
	require.NoError(t, err)
	pushBlob(t, s, "app", emptyJSON)

	sbom := artifact("application/vnd.example.sbom", subject.String(), len(raw), map[string]string{"org.example": "sbom"})
	sig := artifact("application/vnd.example.signature", subject.String(), len(raw), nil)
	unrelated := artifact("application/vnd.example.sbom", "", 0, nil)
	for _, m := range []struct {
		name, tag string
		body      []byte
		subject   string
	}{
		{"sbom", "sbom", sbom, subject.String()},
		{"signature", sha256Digest(sig), sig, subject.String()},
		{"unrelated", "unrelated", unrelated, ""},
	} {
		r := do(t, s, http.MethodPut, "/v2/app/manifests/"+m.tag, m.body, "Content-Type", ociManifest)
		require.Equal(t, http.StatusCreated, r.status, "PUT %s: %s", m.name, r.body)
		assert.Equal(t, m.subject, r.header.Get("OCI-Subject"), "PUT %s: OCI-Subject", m.name)
	}
	desc := func(body []byte, artifactType string, annotations map[string]string) v1.Descriptor {
		h, err := v1.NewHash(sha256Digest(body))
		require.NoError(t, err)
		return v1.Descriptor{MediaType: ociManifest, Size: int64(len(body)), Digest: h, ArtifactType: artifactType, Annotations: annotations}
	}
	sbomDesc := desc(sbom, "application/vnd.example.sbom", map[string]string{"org.example": "sbom"})
	sigDesc := desc(sig, "application/vnd.example.signature", nil)

	for _, tc := range []struct {
		name, query, filters string
		want                 []v1.Descriptor
	}{
		{name: "all", want: []v1.Descriptor{sbomDesc, sigDesc}},
		{name: "sbom only", query: "?artifactType=application/vnd.example.sbom", filters: "artifactType", want: []v1.Descriptor{sbomDesc}},
		{name: "no match", query: "?artifactType=application/vnd.example.none", filters: "artifactType", want: []v1.Descriptor{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, "/v2/app/referrers/"+subject.String()+tc.query, nil)
			require.Equal(t, http.StatusOK, r.status, "GET referrers%s: %s", tc.query, r.body)
			assert.Equal(t, "application/vnd.oci.image.index.v1+json", r.header.Get("Content-Type"))
			assert.Equal(t, tc.filters, r.header.Get("OCI-Filters-Applied"), "OCI-Filters-Applied")
			var idx v1.IndexManifest
			require.NoError(t, json.Unmarshal(r.body, &idx))
			assert.Equal(t, int64(2), idx.SchemaVersion)
			assert.ElementsMatch(t, tc.want, idx.Manifests, "GET referrers%s", tc.query)
		})
	}

	// ggcr's client reads them too.
	ref, err := name.NewDigest(s.Ref("app@" + subject.String()))
	require.NoError(t, err)
	tr := s.Transport()
	defer tr.CloseIdleConnections()
	idx, err := remote.Referrers(ref, remote.WithTransport(tr))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Len(t, im.Manifests, 2, "remote.Referrers")

	// Deleting a referrer removes it; a subject without referrers has an
	// empty list, not a 404; a bad digest is a 400.
	require.Equal(t, http.StatusAccepted, do(t, s, http.MethodDelete, "/v2/app/manifests/"+sbomDesc.Digest.String(), nil).status)
	r := do(t, s, http.MethodGet, "/v2/app/referrers/"+subject.String(), nil)
	var after v1.IndexManifest
	require.NoError(t, json.Unmarshal(r.body, &after))
	assert.Equal(t, []v1.Descriptor{sigDesc}, after.Manifests, "referrers after the SBOM's DELETE")
	r = do(t, s, http.MethodGet, "/v2/other/referrers/"+subject.String(), nil)
	assert.Equal(t, http.StatusOK, r.status, "GET referrers in a repository without them")
	assert.JSONEq(t, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, string(r.body))
	assert.Equal(t, http.StatusBadRequest, do(t, s, http.MethodGet, "/v2/app/referrers/sha256:nope", nil).status, "GET referrers of a bad digest")
}

// TestCloseLeavesNothingRunning checks that Close stops every goroutine
// the server and Distribution started.
func TestCloseLeavesNothingRunning(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, opts := range [][]Option{nil, {WithTLS(), WithTokenAuth("u", "p")}} {
		s, err := Start(opts...)
		require.NoError(t, err)
		_, err = s.SeedImage(t.Context(), "app:v1")
		require.NoError(t, err)
		s.Close()
		s.Close() // twice is fine
	}
}

// TestQuiet checks that Distribution's logging does not reach logrus's
// standard logger, and that the program's own logrus lines still do.
func TestQuiet(t *testing.T) {
	var buf bytes.Buffer
	std := logrus.StandardLogger()
	out := std.Out
	std.SetOutput(&buf)
	t.Cleanup(func() { std.SetOutput(out) })

	s := New(t)
	_, err := s.SeedImage(t.Context(), "app:v1")
	require.NoError(t, err)
	do(t, s, http.MethodGet, "/v2/app/manifests/missing", nil)
	assert.Empty(t, buf.String(), "logrus output of Distribution")

	logrus.Warn("the program's own line")
	assert.Contains(t, buf.String(), "the program's own line", "logrus output of the program")
}
