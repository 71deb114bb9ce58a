package exampletest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// TarGz returns a gzipped tar of files (name -> content; a name ending in
// "/" is a directory; names under "bin/" or named in exec are 0755), in
// sorted order with a fixed mtime, and its sha256 in hex.
func TarGz(t testing.TB, files map[string]string, exec ...string) ([]byte, string) {
	t.Helper()
	isExec := map[string]bool{}
	for _, e := range exec {
		isExec[e] = true
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: int64(len(files[n])), Format: tar.FormatPAX}
		switch {
		case strings.HasSuffix(n, "/"):
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		case isExec[n] || strings.Contains(n, "bin/"):
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:])
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
