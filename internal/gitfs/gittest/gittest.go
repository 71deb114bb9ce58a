// Package gittest serves local git repositories over git's smart HTTP
// protocol from the test process, with go-git's server: no git binary, no
// network beyond loopback. Tests of ADD with git URLs and of git build
// contexts clone from it.
package gittest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/gitfs"
)

// Serve serves the repository in dir (a working copy or a bare one) over
// http://127.0.0.1:PORT/NAME.git until the test ends, and returns that
// URL.
func Serve(t testing.TB, dir, name string) string {
	t.Helper()
	h := &handler{dir: dir, srv: server.NewServer(gitfs.LocalLoader())}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL + "/" + name + ".git"
}

type handler struct {
	dir string
	srv transport.Transport
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, err := transport.NewEndpoint("file://" + h.dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	sess, err := h.srv.NewUploadPackSession(ep, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer sess.Close()
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs"):
		if r.URL.Query().Get("service") != "git-upload-pack" {
			http.Error(w, "only git-upload-pack", http.StatusForbidden)
			return
		}
		ar, err := sess.AdvertisedReferencesContext(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ar.Prefix = [][]byte{[]byte("# service=git-upload-pack"), pktline.Flush}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
		ar.Encode(w)
	case r.Method == http.MethodPost && path.Base(r.URL.Path) == "git-upload-pack":
		req := packp.NewUploadPackRequest()
		if err := req.Decode(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := sess.UploadPack(r.Context(), req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
		resp.Encode(w)
	default:
		http.NotFound(w, r)
	}
}

// Repo creates a repository in a temp dir with the files (content
// starting with "#!" makes an executable) and links, one commit, tagged
// v1, and returns its path and the commit hash.
func Repo(t *testing.T, files, links map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		mode := os.FileMode(0o644)
		if len(content) > 2 && content[:2] == "#!" {
			mode = 0o755
		}
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
	for name, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))))
	}
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	_, err = repo.CreateTag("v1", h, nil)
	require.NoError(t, err)
	return dir, h.String()
}
