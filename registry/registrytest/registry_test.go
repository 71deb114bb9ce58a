package registrytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestManifestWithMissingBlobIsRefused(t *testing.T) {
	s := New(t)
	pushBlob(t, s, "app", emptyJSON)
	missing := sha256Digest([]byte("never pushed"))
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":12}]}`,
		ociManifest, sha256Digest(emptyJSON), missing)

	r := do(t, s, http.MethodPut, "/v2/app/manifests/v1", manifest, "Content-Type", ociManifest)

	assert.Equal(t, http.StatusBadRequest, r.status, "PUT manifest with a missing layer: body %s", r.body)
	assert.Equal(t, "MANIFEST_BLOB_UNKNOWN", r.errorCode(), "PUT manifest with a missing layer: error code")
	assert.Zero(t, s.Stats().ManifestPUTs, "ManifestPUTs after a refused PUT")
}

func TestTagListPagination(t *testing.T) {
	s := New(t)
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		_, err := s.SeedImage(t.Context(), "app:"+tag)
		require.NoError(t, err)
	}

	var got []string
	next := "/v2/app/tags/list?n=2"
	for pages := 0; next != ""; pages++ {
		require.Less(t, pages, len(want), "too many pages; got %v so far", got)
		r := do(t, s, http.MethodGet, next, nil)
		require.Equal(t, http.StatusOK, r.status, "GET %s: %s", next, r.body)
		var page struct{ Tags []string }
		require.NoError(t, json.Unmarshal(r.body, &page))
		assert.LessOrEqual(t, len(page.Tags), 2, "GET %s = %v, want at most n=2 tags", next, page.Tags)
		got = append(got, page.Tags...)
		next = linkNext(r.header.Get("Link"))
	}
	assert.Equal(t, want, got, "tags over all pages")

	r := do(t, s, http.MethodGet, "/v2/app/tags/list?n=2&last=c", nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"name":"app","tags":["d","e"]}`, string(r.body), "GET tags/list?n=2&last=c")
}

// linkNext returns the target of a `Link: <...>; rel="next"` header.
func linkNext(link string) string {
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start < 0 || end < start || !strings.Contains(link, `rel="next"`) {
		return ""
	}
	return link[start+1 : end]
}

func TestDelete(t *testing.T) {
	s := New(t)
	img, dig := seedImage(t, s, "app:v1")
	seedImage(t, s, "app:v2")
	layers, err := img.Layers()
	require.NoError(t, err)
	layer, err := layers[0].Digest()
	require.NoError(t, err)

	for _, step := range []struct {
		method, path string
		want         int
	}{
		// Tag delete: the tag goes, the manifest stays.
		{http.MethodDelete, "/v2/app/manifests/v2", http.StatusAccepted},
		{http.MethodGet, "/v2/app/manifests/v2", http.StatusNotFound},
		// Manifest delete by digest: the manifest and its tag go.
		{http.MethodDelete, "/v2/app/manifests/" + dig.String(), http.StatusAccepted},
		{http.MethodGet, "/v2/app/manifests/" + dig.String(), http.StatusNotFound},
		{http.MethodGet, "/v2/app/manifests/v1", http.StatusNotFound},
		// Blob delete.
		{http.MethodHead, "/v2/app/blobs/" + layer.String(), http.StatusOK},
		{http.MethodDelete, "/v2/app/blobs/" + layer.String(), http.StatusAccepted},
		{http.MethodHead, "/v2/app/blobs/" + layer.String(), http.StatusNotFound},
	} {
		r := do(t, s, step.method, step.path, nil, "Accept", ociManifest)
		assert.Equal(t, step.want, r.status, "%s %s: body %s", step.method, step.path, r.body)
	}
	assert.False(t, s.HasBlob("app", layer), "HasBlob after the blob's DELETE")
}

func TestChunkedUpload(t *testing.T) {
	s := New(t)
	data := make([]byte, 3000)
	_, _ = rand.Read(data)
	chunks := [][]byte{data[:1000], data[1000:2500], data[2500:]}

	r := do(t, s, http.MethodPost, "/v2/app/blobs/uploads/", nil)
	require.Equal(t, http.StatusAccepted, r.status, "POST: %s", r.body)
	assert.Equal(t, "0-0", r.header.Get("Range"), "POST: Range")
	loc := r.header.Get("Location")
	require.NotEmpty(t, loc, "POST: Location")
	offset := 0
	for i, c := range chunks {
		r = do(t, s, http.MethodPatch, loc, c, "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", offset, offset+len(c)-1), "Content-Length", strconv.Itoa(len(c)))
		require.Equal(t, http.StatusAccepted, r.status, "PATCH chunk %d: %s", i, r.body)
		offset += len(c)
		assert.Equal(t, fmt.Sprintf("0-%d", offset-1), r.header.Get("Range"), "PATCH chunk %d: Range", i)
		loc = r.header.Get("Location")
		require.NotEmpty(t, loc, "PATCH chunk %d: Location", i)
	}
	r = do(t, s, http.MethodGet, loc, nil)
	assert.Equal(t, http.StatusNoContent, r.status, "GET upload status")
	assert.Equal(t, fmt.Sprintf("0-%d", len(data)-1), r.header.Get("Range"), "GET upload status: Range")

	dig := sha256Digest(data)
	r = do(t, s, http.MethodPut, withQuery(loc, "digest="+dig), nil)
	require.Equal(t, http.StatusCreated, r.status, "PUT: %s", r.body)
	assert.True(t, strings.HasSuffix(r.header.Get("Location"), "/v2/app/blobs/"+dig), "PUT: Location %q", r.header.Get("Location"))
	assert.Equal(t, dig, r.header.Get("Docker-Content-Digest"), "PUT: Docker-Content-Digest")

	r = do(t, s, http.MethodGet, "/v2/app/blobs/"+dig, nil)
	require.Equal(t, http.StatusOK, r.status)
	assert.True(t, bytes.Equal(data, r.body), "GET of the uploaded blob returns other bytes")
	st := s.Stats()
	assert.Equal(t, 1, st.BlobUploads, "BlobUploads")
	assert.Equal(t, int64(len(data)), st.BlobUploadBytes, "BlobUploadBytes")
	assert.Equal(t, 1, st.BlobGETs, "BlobGETs")
}

func TestBlobsArePerRepository(t *testing.T) {
	s := New(t)
	dig := pushBlob(t, s, "a", []byte("only in a"))

	assert.Equal(t, http.StatusOK, do(t, s, http.MethodHead, "/v2/a/blobs/"+dig, nil).status, "HEAD a's blob in a")
	assert.Equal(t, http.StatusNotFound, do(t, s, http.MethodHead, "/v2/b/blobs/"+dig, nil).status, "HEAD a's blob in b")
}

// TestMountWithEveryAuth pushes an image, then pushes it to another
// repository as ggcr's remote does it, with mounts, under each kind of
// authentication.
func TestMountWithEveryAuth(t *testing.T) {
	const user, pass = "u", "p"
	for _, tc := range []struct {
		name   string
		opts   []Option
		faults bool
	}{
		{name: "no auth"},
		{name: "basic", opts: []Option{WithBasicAuth(user, pass)}},
		{name: "token", opts: []Option{WithTokenAuth(user, pass)}},
		{name: "TLS and token", opts: []Option{WithTLS(), WithTokenAuth(user, pass)}},
		{name: "refused", opts: []Option{WithFaults(RefuseMounts())}, faults: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t, tc.opts...)
			src, err := s.SeedImage(t.Context(), "team/src:v1")
			require.NoError(t, err)
			tr := s.Transport()
			defer tr.CloseIdleConnections()
			auth := remote.WithAuth(&authn.Basic{Username: user, Password: pass})
			ref, err := name.ParseReference(s.Ref("team/src:v1"))
			require.NoError(t, err)
			pulled, err := remote.Image(ref, remote.WithTransport(tr), auth)
			require.NoError(t, err)
			s.ResetStats()

			dst, err := name.ParseReference(s.Ref("team/dst:v1"))
			require.NoError(t, err)
			require.NoError(t, remote.Write(dst, pulled, remote.WithTransport(tr), auth))

			layers, err := src.Layers()
			require.NoError(t, err)
			st := s.Stats()
			if tc.faults {
				assert.Zero(t, st.Mounts, "Mounts with RefuseMounts")
				assert.Positive(t, st.MountsRefused, "MountsRefused with RefuseMounts")
				assert.Equal(t, len(layers)+1, st.BlobUploads, "BlobUploads with RefuseMounts (layers and config)")
			} else {
				assert.Equal(t, len(layers)+1, st.Mounts, "Mounts (layers and config)")
				assert.Zero(t, st.BlobUploads+st.BlobGETs, "BlobUploads+BlobGETs of a mounted image")
			}
			for _, l := range layers {
				h, err := l.Digest()
				require.NoError(t, err)
				assert.True(t, s.HasBlob("team/dst", h), "HasBlob(team/dst, %s) after the push", h)
			}
		})
	}
}

func TestStatsCountPushAndPull(t *testing.T) {
	s := New(t)
	img, err := randomImage(v1.Platform{OS: "linux", Architecture: "amd64"})
	require.NoError(t, err)
	tr := s.Transport()
	defer tr.CloseIdleConnections()
	ref, err := name.ParseReference(s.Ref("app:v1"))
	require.NoError(t, err)
	require.NoError(t, remote.Write(ref, img, remote.WithTransport(tr)))

	layers, err := img.Layers()
	require.NoError(t, err)
	var size int64
	for _, l := range layers {
		n, err := l.Size()
		require.NoError(t, err)
		size += n
	}
	cfg, err := img.RawConfigFile()
	require.NoError(t, err)
	st := s.Stats()
	assert.Equal(t, len(layers)+1, st.BlobUploads, "BlobUploads (layers and config)")
	assert.Equal(t, size+int64(len(cfg)), st.BlobUploadBytes, "BlobUploadBytes")
	assert.Equal(t, 1, st.ManifestPUTs, "ManifestPUTs")

	s.ResetStats()
	got, err := remote.Image(ref, remote.WithTransport(tr))
	require.NoError(t, err)
	for _, l := range layers {
		h, err := l.Digest()
		require.NoError(t, err)
		gl, err := got.LayerByDigest(h)
		require.NoError(t, err)
		rc, err := gl.Compressed()
		require.NoError(t, err)
		require.NoError(t, rc.Close())
		assert.Equal(t, 1, s.Stats().Downloads[h], "Downloads[%s]", h)
	}
	assert.Equal(t, len(layers), s.Stats().BlobGETs, "BlobGETs after reading each layer once")
	assert.Equal(t, 1, s.Stats().Requests["GET manifest"], `Requests["GET manifest"]`)
}

func TestInvalidDigestReference(t *testing.T) {
	s := New(t)
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		r := do(t, s, method, "/v2/app/manifests/sha256:notadigest", artifact("x/y", "", 0, nil), "Content-Type", ociManifest)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s manifests/sha256:notadigest", method)
		assert.Equal(t, "DIGEST_INVALID", r.errorCode(), "%s manifests/sha256:notadigest", method)
	}
	r := do(t, s, http.MethodGet, "/v2/app/tags/list", nil)
	assert.NotContains(t, string(r.body), "notadigest", "tags after a PUT under an invalid digest")
}

func TestSeedImageIsReadable(t *testing.T) {
	s := New(t, WithBasicAuth("u", "p"), WithFaults(FailEvery(1, http.StatusInternalServerError)))
	img, err := s.SeedImage(context.Background(), "app:v1")
	require.NoError(t, err, "SeedImage skips auth and faults")
	assert.Zero(t, s.Stats().ManifestPUTs+s.Stats().BlobUploads+s.Stats().Faults+len(s.Stats().Requests), "counters after seeding")
	cfg, err := img.ConfigName()
	require.NoError(t, err)
	assert.True(t, s.HasBlob("app", cfg), "HasBlob(app, config) after SeedImage")
	assert.Equal(t, http.StatusInternalServerError, do(t, s, http.MethodGet, "/v2/", nil).status, "GET /v2/ with FailEvery(1, 500)")
}
