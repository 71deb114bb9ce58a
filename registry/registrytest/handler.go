package registrytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// maxManifestSize is the largest manifest body the Server reads to index
// its subject: Distribution's own limit.
const maxManifestSize = 4 << 20

// route is what the Server needs to know of a request.
type route struct {
	kind      Kind
	repo      string // for /v2/<repo>/... paths
	reference string // the last path element: tag, digest or upload id
	referrers bool   // GET /v2/<repo>/referrers/<digest>
}

// classify returns the kind of a request and, for /v2/<repo>/... paths, the
// repository.
func classify(r *http.Request) route {
	p := r.URL.Path
	if p == "/token" {
		return route{kind: KindToken}
	}
	if p == "/v2/" || p == "/v2" {
		return route{kind: KindPing}
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return route{kind: KindOther}
	}
	for _, m := range []struct {
		sep  string
		kind Kind
	}{{"/blobs/uploads", KindUpload}, {"/manifests/", KindManifest}, {"/blobs/", KindBlob}, {"/tags/", KindOther}, {"/referrers/", KindOther}} {
		if i := strings.LastIndex(rest, m.sep); i > 0 {
			return route{
				kind:      m.kind,
				repo:      rest[:i],
				reference: rest[strings.LastIndex(rest, "/")+1:],
				referrers: m.sep == "/referrers/",
			}
		}
	}
	return route{kind: KindOther}
}

// serveHTTP checks a request (faults, authentication) and hands it to the
// registry. The server's own seeding requests skip the checks and the
// counters.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rt := classify(r)
	seeding := r.Header.Get(seedHeader) == seedNonce
	refuseMount := false
	if !seeding {
		s.count(func(st *Stats) { st.Requests[r.Method+" "+string(rt.kind)]++ })
		var handled bool
		if handled, refuseMount = s.injectFaults(w, r, rt.kind); handled {
			return
		}
		if rt.kind == KindToken {
			if s.auth == nil || s.auth.basic {
				http.NotFound(w, r)
				return
			}
			s.auth.serveToken(s, w, r)
			return
		}
		if s.auth != nil && !s.auth.check(s, w, r, rt) {
			return
		}
	}
	count := func(f func(*Stats)) {
		if !seeding {
			s.count(f)
		}
	}
	switch {
	case rt.kind == KindManifest && strings.Contains(rt.reference, ":") && digest.Digest(rt.reference).Validate() != nil:
		// Distribution would take it for a tag; tags have no colon.
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid manifest digest")
	case rt.referrers:
		s.refs.serve(w, r, rt.repo)
	case rt.kind == KindUpload && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "":
		s.serveMount(w, r, refuseMount, count)
	case rt.kind == KindManifest && r.Method == http.MethodPut:
		s.serveManifestPut(w, r, rt, count)
	default:
		s.serveApp(w, r, func(status int, _ http.Header) { s.counted(r, rt, status, count) })
	}
}

// serveApp hands a request to Distribution and calls before with the
// status and headers of its answer before they are sent, so that the
// counters are up to date when the client sees the answer.
func (s *Server) serveApp(w http.ResponseWriter, r *http.Request, before func(int, http.Header)) {
	rec := &statusRecorder{ResponseWriter: w, before: before}
	s.app.ServeHTTP(rec, r)
	if rec.status == 0 { // nothing written: net/http answers 200
		rec.WriteHeader(http.StatusOK)
	}
}

// counted updates the counters and the referrers index for an answer.
func (s *Server) counted(r *http.Request, rt route, status int, count func(func(*Stats))) {
	switch {
	case status < 200 || status > 299:
	case rt.kind == KindUpload && status == http.StatusCreated && r.URL.Query().Get("digest") != "":
		// The upload is complete (final PUT, or a monolithic POST).
		n, _ := s.blobSize(rt.repo, r.URL.Query().Get("digest"))
		count(func(st *Stats) { st.BlobUploads++; st.BlobUploadBytes += n })
	case rt.kind == KindBlob && r.Method == http.MethodGet:
		h, _ := v1.NewHash(rt.reference)
		count(func(st *Stats) { st.BlobGETs++; st.Downloads[h]++ })
	case rt.kind == KindManifest && r.Method == http.MethodDelete:
		if h, err := v1.NewHash(rt.reference); err == nil {
			s.refs.remove(rt.repo, h)
		}
	}
}

// serveMount serves a cross-repository mount (POST
// .../blobs/uploads/?mount=<digest>&from=<repo>). Distribution mounts the
// blob when the source repository holds it and otherwise starts an upload;
// a mount refused by a fault starts an upload too.
func (s *Server) serveMount(w http.ResponseWriter, r *http.Request, refuse bool, count func(func(*Stats))) {
	q := r.URL.Query()
	from := q.Get("from")
	if refuse {
		q.Del("mount")
		q.Del("from")
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
	}
	s.serveApp(w, r, func(status int, _ http.Header) {
		switch {
		case from == "":
		case status == http.StatusCreated:
			count(func(st *Stats) { st.Mounts++ })
		case status == http.StatusAccepted:
			count(func(st *Stats) { st.MountsRefused++ })
		}
	})
}

// serveManifestPut stores a manifest through the registry and, when it
// names a subject, indexes it for the referrers API and answers with the
// OCI-Subject header, as OCI 1.1 registries do.
func (s *Server) serveManifestPut(w http.ResponseWriter, r *http.Request, rt route, count func(func(*Stats))) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading manifest: "+err.Error())
		return
	}
	if len(body) > maxManifestSize {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "manifest too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	subject, desc := parseSubject(body, r.Header.Get("Content-Type"), rt.reference)
	s.serveApp(w, r, func(status int, h http.Header) {
		if status != http.StatusCreated {
			return
		}
		if subject != nil {
			s.refs.add(rt.repo, *subject, desc)
			h.Set("OCI-Subject", subject.String())
		}
		count(func(st *Stats) { st.ManifestPUTs++ })
	})
}

// blobSize asks the registry, in process, for the size of a blob in a
// repository, and reports whether the repository holds it.
func (s *Server) blobSize(repo, digest string) (int64, bool) {
	req := httptest.NewRequest(http.MethodHead, "/v2/"+repo+"/blobs/"+digest, nil)
	rec := httptest.NewRecorder()
	s.app.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return 0, false
	}
	n, _ := strconv.ParseInt(rec.Header().Get("Content-Length"), 10, 64)
	return n, true
}

// statusRecorder calls before with the status and headers of an answer
// before they are sent.
type statusRecorder struct {
	http.ResponseWriter
	status int
	before func(status int, h http.Header)
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		if r.before != nil {
			r.before(code, r.Header())
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeError answers in the registry's JSON error format.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}
