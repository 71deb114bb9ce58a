package exampletest

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TarGz returns a gzipped tar of files (name -> content; a name ending in
// "/" is a directory; names under "bin/" or named in exec are 0755), in
// sorted order with a fixed mtime, and its sha256 in hex.
func TarGz(t testing.TB, files map[string]string, exec ...string) ([]byte, string) {
	t.Helper()
	var ents []tartest.Entry
	for _, n := range slices.Sorted(maps.Keys(files)) {
		switch {
		case strings.HasSuffix(n, "/"):
			ents = append(ents, tartest.Dir(n))
		case slices.Contains(exec, n) || strings.Contains(n, "bin/"):
			ents = append(ents, tartest.File(n, files[n]).WithMode(0o755))
		default:
			ents = append(ents, tartest.File(n, files[n]))
		}
	}
	tgz := tartest.Gzip(t, tartest.New(ents...).
		WithModTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)).WithFormat(tar.FormatPAX).Bytes(t))
	sum := sha256.Sum256(tgz)
	return tgz, hex.EncodeToString(sum[:])
}

// Serve serves path -> content over HTTP on loopback for the test and
// returns the server's base URL. Requests counts the GETs per path.
func Serve(t testing.TB, blobs map[string][]byte) (baseURL string, requests func(path string) int) {
	t.Helper()
	counts := make(chan map[string]int, 1)
	counts <- map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := <-counts
		c[r.URL.Path]++
		counts <- c
		b, ok := blobs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func(p string) int {
		c := <-counts
		defer func() { counts <- c }()
		return c[p]
	}
}

// Mode returns the fs.FileMode of a tar header (type bits included).
func Mode(f File) fs.FileMode {
	if f.Header == nil {
		return 0
	}
	return f.Header.FileInfo().Mode()
}
