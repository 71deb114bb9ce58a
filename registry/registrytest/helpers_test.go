package registrytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"
)

// reply is an answer read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of the first error of a registry error body.
func (r reply) errorCode() string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(r.body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// do sends a request to s (a path, or a URL the server returned) with
// optional header pairs, and reads the answer.
func do(t *testing.T, s *Server, method, target string, body []byte, header ...string) reply {
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.URL() + target
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	tr := s.Transport()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	require.NoError(t, err, "%s %s", method, target)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// seedImage seeds a random image at ref (repository:tag) of s, and
// returns it with its digest.
func seedImage(t *testing.T, s *Server, ref string) (v1.Image, v1.Hash) {
	t.Helper()
	img, err := s.SeedImage(t.Context(), ref)
	require.NoError(t, err, "SeedImage(%s)", ref)
	h, err := img.Digest()
	require.NoError(t, err)
	return img, h
}

func sha256Digest(data []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(data)) }

// pushBlob uploads data to repo in one PUT after the POST that starts the
// upload, and returns its digest.
func pushBlob(t *testing.T, s *Server, repo string, data []byte) string {
	t.Helper()
	start := do(t, s, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	require.Equal(t, http.StatusAccepted, start.status, "POST upload: %s", start.body)
	dig := sha256Digest(data)
	put := do(t, s, http.MethodPut, withQuery(start.header.Get("Location"), "digest="+dig), data,
		"Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusCreated, put.status, "PUT upload: %s", put.body)
	return dig
}

// withQuery appends a query parameter to a URL that may have a query.
func withQuery(u, kv string) string {
	if strings.Contains(u, "?") {
		return u + "&" + kv
	}
	return u + "?" + kv
}

// emptyJSON is the OCI empty descriptor's content.
var emptyJSON = []byte("{}")

// artifact returns an OCI image manifest of an artifact of the given type
// with the empty config and one empty layer, referring to subject when
// subject is not empty.
func artifact(artifactType, subject string, subjectSize int, annotations map[string]string) []byte {
	empty := map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256Digest(emptyJSON), "size": len(emptyJSON)}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"artifactType":  artifactType,
		"config":        empty,
		"layers":        []any{empty},
	}
	if subject != "" {
		m["subject"] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": subjectSize}
	}
	if annotations != nil {
		m["annotations"] = annotations
	}
	b, _ := json.Marshal(m)
	return b
}

const ociManifest = "application/vnd.oci.image.manifest.v1+json"
