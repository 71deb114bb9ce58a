package layer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

func TestURL(t *testing.T) {
	tgz := tartest.Gzip(t, tartest.Bytes(t, tartest.Dir("ko_1.0/"), tartest.File("ko_1.0/ko", "ko binary").WithMode(0o755), tartest.File("ko_1.0/LICENSE", "l")))
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ko.tgz", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(tgz)
	})
	mux.HandleFunc("/missing.tgz", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, strings.Repeat("<html><body>Sign in</body></html>\n", 40))
	})
	mux.HandleFunc("/cut.tgz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(tgz)))
		w.Write(tgz[:len(tgz)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection halfway
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Write(tgz[:10])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
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
			if err != nil {
				t.Fatal(err)
			}
			_, err = l.Digest()
			if tc.errHas == nil {
				if err != nil {
					t.Fatalf("Digest() = %v", err)
				}
				if got := summary(entries(t, l)); got != tc.want {
					t.Errorf("entries =\n%s\nwant\n%s", got, tc.want)
				}
				check(t, l)
				return
			}
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("Digest() = %v, want error wrapping %v", err, tc.wantErr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Digest() = %v, want it to contain %q", err, s)
				}
			}
		})
	}

	t.Run("credentials never in errors", func(t *testing.T) {
		u := strings.Replace(srv.URL, "http://", "http://alice:s3cret@", 1) + "/missing.tgz"
		l, _ := FromURL(ctx, u)
		_, err := l.Digest()
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Digest() = %v, want an error without the password", err)
		}
	})

	t.Run("cancel during a stalled download", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		l, _ := FromURL(cctx, srv.URL+"/stall")
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, err := l.Digest()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Digest() = %v, want context.Canceled", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Digest() took %v after cancel", el)
		}
	})

	t.Run("cache: a URL with sha256 is downloaded once", func(t *testing.T) {
		cache := t.TempDir()
		before := hits.Load()
		var digests []string
		for range 3 {
			l, err := FromURL(ctx, srv.URL+"/ko.tgz", WithSHA256(sum), WithCache(cache), WithRoot("/opt"))
			if err != nil {
				t.Fatal(err)
			}
			check(t, l)
			d, _ := l.Digest()
			digests = append(digests, d.String())
		}
		if n := hits.Load() - before; n != 1 {
			t.Errorf("3 builds with WithCache made %d downloads, want 1", n)
		}
		if digests[0] != digests[1] || digests[1] != digests[2] {
			t.Errorf("digests = %v, want all equal", digests)
		}
	})
}
