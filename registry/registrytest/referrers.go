package registrytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
)

// referrers indexes the manifests that name a subject, per repository, as
// they are stored, and answers the OCI 1.1 referrers API
// (GET /v2/<name>/referrers/<digest>), which Distribution does not serve.
type referrers struct {
	mu sync.Mutex
	// by repository, then subject digest, then referrer digest
	index map[string]map[v1.Hash]map[v1.Hash]v1.Descriptor
}

func newReferrers() *referrers {
	return &referrers{index: map[string]map[v1.Hash]map[v1.Hash]v1.Descriptor{}}
}

// subjectManifest holds the fields of an image manifest or index that the
// referrers API reports.
type subjectManifest struct {
	MediaType    types.MediaType   `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// parseSubject returns the subject of a manifest PUT under ref and the
// manifest's descriptor as a referrer, or a nil subject when it has none
// (or is not JSON: then Distribution refuses it anyway). The manifest's
// digest uses ref's algorithm when ref is a digest, else sha256.
func parseSubject(body []byte, contentType, ref string) (*v1.Hash, v1.Descriptor) {
	var m subjectManifest
	if !bytes.Contains(body, []byte(`"subject"`)) || json.Unmarshal(body, &m) != nil || m.Subject == nil {
		return nil, v1.Descriptor{}
	}
	alg := digest.Canonical
	if d, err := digest.Parse(ref); err == nil && d.Algorithm().Available() {
		alg = d.Algorithm()
	}
	h, err := v1.NewHash(alg.FromBytes(body).String())
	if err != nil {
		return nil, v1.Descriptor{}
	}
	d := v1.Descriptor{
		MediaType:    m.MediaType,
		Size:         int64(len(body)),
		Digest:       h,
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if d.MediaType == "" {
		d.MediaType = types.MediaType(contentType)
	}
	if d.ArtifactType == "" && m.Config != nil {
		d.ArtifactType = string(m.Config.MediaType)
	}
	subject := m.Subject.Digest
	return &subject, d
}

// add records that the manifest d in repo refers to subject.
func (r *referrers) add(repo string, subject v1.Hash, d v1.Descriptor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bySubject := r.index[repo]
	if bySubject == nil {
		bySubject = map[v1.Hash]map[v1.Hash]v1.Descriptor{}
		r.index[repo] = bySubject
	}
	if bySubject[subject] == nil {
		bySubject[subject] = map[v1.Hash]v1.Descriptor{}
	}
	bySubject[subject][d.Digest] = d
}

// remove forgets the manifest with digest h in repo, deleted.
func (r *referrers) remove(repo string, h v1.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, refs := range r.index[repo] {
		delete(refs, h)
	}
}

// list returns the referrers of subject in repo with the artifact type
// (any when empty), sorted by digest.
func (r *referrers) list(repo string, subject v1.Hash, artifactType string) []v1.Descriptor {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []v1.Descriptor{}
	for _, d := range r.index[repo][subject] {
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	return out
}

// serve answers GET (and HEAD) /v2/<repo>/referrers/<digest>[?artifactType=...]
// with an OCI image index of the referrers.
func (r *referrers) serve(w http.ResponseWriter, req *http.Request, repo string) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "referrers are read with GET")
		return
	}
	subject, err := v1.NewHash(req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:])
	if err != nil {
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", "invalid subject digest")
		return
	}
	artifactType := req.URL.Query().Get("artifactType")
	body, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     r.list(repo, subject, artifactType),
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "encoding referrers")
		return
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}
