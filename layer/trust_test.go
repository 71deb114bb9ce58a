package layer

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestNoSilentEmpties: a WithOnly name or WithInclude pattern that matches
// nothing fails the build with an error naming it, instead of an empty
// layer (a typo such as "kox" for "ko").
func TestNoSilentEmpties(t *testing.T) {
	tb := tartest.TempFile(t, "ko.tgz", tartest.Gzip(t, tartest.Bytes(t, tartest.File("LICENSE", "l"), tartest.File("ko", "k"))))
	d := t.TempDir()
	tree(t, d, "a/x", "b/y")
	for _, tc := range []struct {
		name  string
		mk    func() (Source, error)
		names []string
	}{
		{"WithOnly typo on a tarball", func() (Source, error) { return Tarball(tb, WithOnly("kox")), nil }, []string{`WithOnly("kox")`}},
		{"one of two WithOnly names", func() (Source, error) { return Tarball(tb, WithOnly("ko", "LICENCE")), nil }, []string{`WithOnly("LICENCE")`}},
		{"WithInclude on a directory", func() (Source, error) { return Dir(d, WithInclude("a/**", "c/**")), nil }, []string{`WithInclude("c/**")`}},
		{"WithOnly on files", func() (Source, error) {
			return Files([]File{{Path: "x", Data: []byte("x")}}, WithOnly("y")), nil
		}, []string{`WithOnly("y")`}},
		{"a WithOnly name under another that matched", func() (Source, error) { return Tarball(tb, WithOnly("ko", "ko/missing")), nil },
			[]string{`WithOnly("ko/missing")`}},
		{"WithOnly of an excluded name", func() (Source, error) { return Tarball(tb, WithOnly("ko"), WithExclude("k*")), nil },
			[]string{`WithOnly("ko") (no such entry, or excluded by WithExclude or WithIgnoreFile)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := tc.mk()
			l, err := New(t.Context(), []Source{src}, WithTempDir(t.TempDir()))
			require.NoError(t, err)
			_, err = l.Digest()
			require.ErrorIs(t, err, ErrNoMatch)
			for _, n := range tc.names {
				assert.Contains(t, err.Error(), n)
			}
		})
	}
	// A name that matches keeps working.
	l, err := FromTarball(tb, WithOnly("ko"), WithTempDir(t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, "ko 0 644 \"k\"\n", summary(entries(t, l)))
}

// TestURLErrorsHideSecrets: download errors show the URL's scheme, host and
// path, never its user info or query (pre-signed URLs carry credentials
// there), whatever failed: the status, the connection, the checksum.
func TestURLErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone.tgz":
			http.Error(w, "gone", http.StatusGone)
		case "/redirect":
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere?X-Amz-Signature=redirect-sig", http.StatusFound)
		default:
			w.Write(tartest.Gzip(t, tartest.Bytes(t, tartest.File("a", "a"))))
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	secrets := []string{"s3cr3t-pw", "sig-0123abcd", "tok-9876", "redirect-sig"}
	query := "?X-Amz-Signature=sig-0123abcd&token=tok-9876"
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name, url string
		opts      []Option
		wants     string // what the error must name
	}{
		{"status", "http://bob:s3cr3t-pw@" + host + "/gone.tgz" + query, nil, "/gone.tgz"},
		{"connection refused", "http://bob:s3cr3t-pw@" + closed + "/x.tgz" + query, nil, closed + "/x.tgz"},
		{"redirect to a refused host", "http://" + host + "/redirect" + query, nil, "/redirect"},
		{"checksum", "http://" + host + "/ok.tgz" + query, []Option{WithSHA256(strings.Repeat("0", 64))}, "/ok.tgz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := FromURL(t.Context(), tc.url, append(tc.opts, WithTempDir(t.TempDir()))...)
			require.NoError(t, err)
			_, err = l.Digest()
			require.Error(t, err)
			msg := fmt.Sprint(err)
			assert.Contains(t, msg, tc.wants)
			for _, s := range secrets {
				assert.NotContains(t, msg, s)
			}
			assert.NotContains(t, l.(Describer).CreatedBy(), "?", "history")
		})
	}
}
