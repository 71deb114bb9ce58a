package layer

import (
	"archive/tar"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestSpoolCleanup: the spool file is removed once the layer is
// unreachable, and a reader opened before keeps working.
func TestSpoolCleanup(t *testing.T) {
	tmp := t.TempDir()
	l, err := New(context.Background(), []Source{Files(goldenFiles)}, WithTempDir(tmp))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	spools, _ := filepath.Glob(filepath.Join(tmp, "*"))
	if len(spools) != 1 {
		t.Fatalf("spool files = %v, want 1", spools)
	}
	l = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		if _, err := os.Stat(spools[0]); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool %s still exists after the layer became unreachable", spools[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := io.Copy(io.Discard, rc); err != nil || n == 0 {
		t.Errorf("reading an open Compressed() after cleanup = %d bytes, %v; want the blob", n, err)
	}
}

// TestURLStreamed: a 256 MiB download is never held in memory.
func TestURLStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	const size = 256 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := tar.NewWriter(w)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: size, Mode: 0o644})
		io.Copy(tw, &genFile{size: size})
		tw.Close()
	}))
	defer srv.Close()
	var l any
	peak := peakHeap(func() {
		v, err := New(context.Background(), []Source{URL(srv.URL + "/big.tar")}, WithTempDir(t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Digest(); err != nil {
			t.Fatal(err)
		}
		l = v
	})
	_ = l
	t.Logf("256 MiB download: peak heap growth %.1f MiB", float64(peak)/(1<<20))
	if peak > 32<<20 {
		t.Errorf("downloading 256 MiB grew the heap by %d MiB, want at most 32", peak>>20)
	}
	srv.CloseClientConnections()
}
