package tarx

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// headWriter keeps the first bytes written and counts the rest.
type headWriter struct {
	head bytes.Buffer
	n    int64
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := 64<<10 - w.head.Len(); room > 0 {
		w.head.Write(p[:min(room, len(p))])
	}
	w.n += int64(len(p))
	return len(p), nil
}

// TestHugeEntry: an entry over 8 GiB (ustar's size limit) is written with
// its real size in the header, from a sparse file on disk.
func TestHugeEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 8 GiB")
	}
	const size = 8<<30 + 1
	p := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	var hw headWriter
	w := NewWriter(&hw)
	r := &Rules{Root: "data"}
	out, err := r.Rewrite(&tar.Header{Typeflag: tar.TypeReg, Name: "huge", Size: size, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Place(Entry{Header: out, Source: "huge"}, f); err != nil {
		t.Fatalf("Place(8 GiB + 1) = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&hw.head)
	tr.Next() // data/
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "data/huge" || h.Size != size {
		t.Errorf("header = %s %d bytes, want data/huge %d bytes", h.Name, h.Size, int64(size))
	}
	if hw.n < size || hw.n > size+8192 {
		t.Errorf("stream is %d bytes, want just over %d", hw.n, int64(size))
	}
}

func TestPlace(t *testing.T) {
	mt := time.Unix(0, 0)
	reg := func(n string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, ModTime: mt}
	}
	for _, tc := range []struct {
		name    string
		entries []*tar.Header
		wantErr error
		want    string
	}{
		{"parents emitted once", []*tar.Header{reg("a/b/c"), reg("a/b/d"), reg("a/e")}, nil, "a/ a/b/ a/b/c a/b/d a/e"},
		{"empty name", []*tar.Header{reg("")}, ErrEscapesRoot, ""},
		{"dotdot", []*tar.Header{reg("../x")}, ErrEscapesRoot, ""},
		{"through symlink", []*tar.Header{{Typeflag: tar.TypeSymlink, Name: "s", Linkname: "/"}, reg("s/x")}, ErrThroughSymlink, ""},
		{"under a file", []*tar.Header{reg("f"), reg("f/x")}, ErrNotDir, ""},
		{"hardlink to itself", []*tar.Header{{Typeflag: tar.TypeLink, Name: "h", Linkname: "h"}}, ErrLinkTarget, ""},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		var err error
		for _, h := range tc.entries {
			var body io.Reader
			if err = w.Place(Entry{Header: h, Source: h.Name, ParentModTime: mt}, body); err != nil {
				break
			}
		}
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: Place() = %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Place() = %v", tc.name, err)
		}
		w.Close()
		var names []string
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			names = append(names, h.Name)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s: names = %s, want %s", tc.name, got, tc.want)
		}
	}
}
