package layer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

func TestURLFile(t *testing.T) {
	body := "#!/bin/sh\necho tool\n"
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/tool", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(body))
	})
	mux.HandleFunc("/tool.tgz", func(w http.ResponseWriter, r *http.Request) {
		w.Write(tartest.Gzip(t, tartest.Bytes(t, tartest.File("a", "x"))))
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sum := sha256Hex([]byte(body))
	ctx := context.Background()

	for _, tc := range []struct {
		name, path, dst string
		opts            []SourceOption
		want            string
		wantErr         error
	}{
		{"saved with mode 0600", "/tool", "/usr/local/bin/tool", nil,
			"usr/ 5 755\nusr/local/ 5 755\nusr/local/bin/ 5 755\nusr/local/bin/tool 0 600 \"#!/bin/sh\\necho tool\\n\"\n", nil},
		{"an archive is not extracted", "/tool.tgz", "t.tgz", nil, "", nil},
		{"sha256 ok", "/tool", "/t", []SourceOption{WithSHA256(sum)}, "t 0 600 \"#!/bin/sh\\necho tool\\n\"\n", nil},
		{"sha256 mismatch", "/tool", "/t", []SourceOption{WithSHA256(strings.Repeat("0", 64))}, "", ErrDigestMismatch},
		{"size limit", "/tool", "/t", []SourceOption{WithSizeLimit(4)}, "", ErrSizeLimit},
		{"404", "/missing", "/t", nil, "", ErrHTTPStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(ctx, []Source{URLFile(srv.URL+tc.path+"?token=secret", tc.dst, tc.opts...)})
			require.NoError(t, err)
			if tc.wantErr != nil {
				_, err := l.Digest()
				assert.ErrorIs(t, err, tc.wantErr, "URLFile(%s)", tc.path)
				// Error text shares URL's redaction (user info only): issue 10.
				return
			}
			gs := entries(t, l)
			if tc.want != "" {
				assert.Equal(t, tc.want, summary(gs), "URLFile(%s, %s) entries", tc.path, tc.dst)
			} else {
				require.Len(t, gs, 1)
				assert.Equal(t, "t.tgz", gs[0].Name, "a downloaded archive stays one file")
			}
			assert.NotContains(t, l.(*layer).CreatedBy(), "secret", "history holds no query")
			check(t, l)
		})
	}
}

func TestURLFileCache(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("payload"))
	}))
	defer srv.Close()
	cacheDir := t.TempDir()
	sum := sha256Hex([]byte("payload"))
	build := func(opts ...SourceOption) {
		t.Helper()
		l, err := New(context.Background(), []Source{URLFile(srv.URL+"/p", "/p", opts...)}, WithCache(cacheDir))
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
	}
	build(WithSHA256(sum))
	build(WithSHA256(sum))
	assert.Equal(t, int32(1), hits.Load(), "downloads of a URL with a known sha256, built twice")
	build()
	build()
	assert.Equal(t, int32(3), hits.Load(), "downloads without a sha256: not cached")
	ents, err := os.ReadDir(os.TempDir())
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, strings.HasPrefix(e.Name(), "stevedore-download-"), "download spool left behind: %s", e.Name())
	}
}

func TestURLFileErrors(t *testing.T) {
	for _, tc := range []struct{ name, url, dst string }{
		{"scheme", "ftp://example.com/x", "/x"},
		{"destination", "https://example.com/x", "/"},
		{"bad url", "https://exa mple.com/%zz", "/x"},
	} {
		_, err := New(context.Background(), []Source{URLFile(tc.url, tc.dst)})
		assert.ErrorIs(t, err, ErrOption, "URLFile(%q, %q)", tc.url, tc.dst)
	}
	_, err := New(context.Background(), []Source{URLFile("https://example.com/x", "/x", WithPreserveOwner())})
	assert.ErrorIs(t, err, ErrInvalidOption, "URLFile with WithPreserveOwner")
}

// TestURLFileTempDir: the download is spooled in the directory of
// WithTempDir (one that does not exist fails the build, naming it).
func TestURLFileTempDir(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tool")) }))
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "missing")
	l, err := New(t.Context(), []Source{URLFile(srv.URL+"/tool", "/t", WithSHA256(sha256Hex([]byte("tool"))))},
		WithCache(t.TempDir()), WithTempDir(missing))
	require.NoError(t, err)
	_, err = l.Digest()
	require.ErrorIs(t, err, os.ErrNotExist, "URLFile with WithTempDir(missing)")
	assert.ErrorContains(t, err, missing)

	l, err = New(t.Context(), []Source{URLFile(srv.URL+"/tool", "/t")}, WithTempDir(t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, "t 0 600 \"tool\"\n", summary(entries(t, l)), "URLFile with WithTempDir")
}
