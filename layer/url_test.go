package layer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// urlServer serves tgz at /ko.tgz (counting the requests in hits), a 404
// at /missing.tgz, an HTML page at /html, half of tgz then a dropped
// connection at /cut.tgz, and 10 bytes then nothing at /stall.
func urlServer(t *testing.T, tgz []byte, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ko.tgz", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(tgz)
	})
	mux.HandleFunc("/missing.tgz", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, strings.Repeat("<html><body>Sign in</body></html>\n", 40))
	})
	mux.HandleFunc("/cut.tgz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(tgz)))
		_, _ = w.Write(tgz[:len(tgz)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection halfway
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(tgz[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestURL(t *testing.T) {
	tgz := tartest.Gzip(t, tartest.Bytes(t, tartest.Dir("ko_1.0/"), tartest.File("ko_1.0/ko", "ko binary").WithMode(0o755), tartest.File("ko_1.0/LICENSE", "l")))
	var hits atomic.Int32
	srv := urlServer(t, tgz, &hits)
	sum := sha256Hex(tgz)
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		path    string
		opts    []Option
		want    string
		wantErr error
		errHas  []string
	}{
		{"ok, only ko under a root", "/ko.tgz", []Option{WithStripComponents(1), WithOnly("ko"), WithRoot("/usr/local/bin")}, "usr/ 5 755\nusr/local/ 5 755\nusr/local/bin/ 5 755\nusr/local/bin/ko 0 755 \"ko binary\"\n", nil, nil},
		{"sha256 ok", "/ko.tgz", []Option{WithSHA256("sha256:" + sum)}, "ko_1.0/ 5 755\nko_1.0/ko 0 755 \"ko binary\"\nko_1.0/LICENSE 0 644 \"l\"\n", nil, nil},
		{"sha256 mismatch", "/ko.tgz", []Option{WithSHA256(strings.Repeat("0", 64))}, "", ErrDigestMismatch, []string{"/ko.tgz", sum, strings.Repeat("0", 64)}},
		{"404", "/missing.tgz", nil, "", ErrHTTPStatus, []string{"404", "/missing.tgz"}},
		{"200 with HTML", "/html", nil, "", ErrNotTar, []string{"/html", "text/html"}},
		{"download stops halfway", "/cut.tgz", nil, "", nil, []string{"/cut.tgz", "unexpected EOF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := FromURL(ctx, srv.URL+tc.path, tc.opts...)
			require.NoError(t, err, "FromURL()")
			_, err = l.Digest()
			if tc.errHas == nil {
				require.NoError(t, err, "Digest()")
				assert.Equal(t, tc.want, summary(entries(t, l)), "entries")
				check(t, l)
				return
			}
			require.Error(t, err, "Digest()")
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr, "Digest()")
			}
			for _, s := range tc.errHas {
				assert.ErrorContains(t, err, s, "Digest()")
			}
		})
	}

	t.Run("credentials never in errors", func(t *testing.T) {
		u := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/missing.tgz"
		l, err := FromURL(ctx, u)
		require.NoError(t, err, "FromURL()")
		_, err = l.Digest()
		require.Error(t, err, "Digest()")
		assert.NotContains(t, err.Error(), "s3cret", "Digest(): want an error without the password")
	})

	t.Run("cancel during a stalled download", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		l, err := FromURL(cctx, srv.URL+"/stall")
		require.NoError(t, err, "FromURL()")
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err = l.Digest()
		assert.ErrorIs(t, err, context.Canceled, "Digest()")
		assert.Less(t, time.Since(start), 5*time.Second, "time Digest() took after cancel")
	})

	t.Run("cache: a URL with sha256 is downloaded once", func(t *testing.T) {
		cache := t.TempDir()
		before := hits.Load()
		var digests []string
		for range 3 {
			l, err := FromURL(ctx, srv.URL+"/ko.tgz", WithSHA256(sum), WithCache(cache), WithRoot("/opt"))
			require.NoError(t, err, "FromURL()")
			check(t, l)
			digests = append(digests, digestString(t, l))
		}
		assert.Equal(t, int32(1), hits.Load()-before, "downloads for 3 builds with WithCache")
		assert.Equal(t, []string{digests[0], digests[0], digests[0]}, digests, "digests of the 3 builds")
	})
}
