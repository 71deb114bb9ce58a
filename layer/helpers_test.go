package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// te is one entry of a test tarball (a tiny immutable builder in the
// spirit of containerd's tartest).
type te struct {
	name     string
	typ      byte
	mode     int64
	body     string
	link     string
	uid, gid int
	mtime    time.Time
	size     int64 // overrides len(body) in the header when set
	pax      map[string]string
}

func reg(name, body string) te { return te{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func dir(name string) te       { return te{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) te {
	return te{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string) te {
	return te{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

func (e te) withMode(m int64) te { e.mode = m; return e }

// tarBytes writes entries as a tar stream.
func tarBytes(t testing.TB, entries ...te) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mt := e.mtime
		if mt.IsZero() {
			mt = time.Unix(1700000000, 0)
		}
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Mode: e.mode, Linkname: e.link,
			Uid: e.uid, Gid: e.gid, ModTime: mt, PAXRecords: e.pax}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: e.typ, Name: e.name, PAXRecords: e.pax}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tarBytes: header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// got is one entry read back from a layer.
type got struct {
	Name     string
	Type     byte
	Mode     int64
	Link     string
	UID, GID int
	MTime    int64
	Body     string
	Uname    string
}

func (g got) String() string {
	s := fmt.Sprintf("%s %c %o", g.Name, g.Type, g.Mode)
	if g.Link != "" {
		s += " -> " + g.Link
	}
	if g.Body != "" {
		s += fmt.Sprintf(" %q", g.Body)
	}
	return s
}

// entries reads a layer's uncompressed tar.
func entries(t testing.TB, l v1.Layer) []got {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed() = %v", err)
	}
	defer rc.Close()
	return readTar(t, rc)
}

func readTar(t testing.TB, r io.Reader) []got {
	t.Helper()
	var out []got
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading layer tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, Link: h.Linkname,
			UID: h.Uid, GID: h.Gid, MTime: h.ModTime.Unix(), Body: string(b), Uname: h.Uname + h.Gname})
	}
}

// summary renders entries one per line as "name type mode [-> link] [body]".
func summary(gs []got) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(g.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// check validates l: ggcr's validate.Layer for gzip layers, and for every
// compression a recomputation of digest, diffID and size from the bytes.
func check(t testing.TB, l v1.Layer) {
	t.Helper()
	mt, err := l.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	if mt == types.OCILayer || mt == types.DockerLayer {
		if err := validate.Layer(l); err != nil {
			t.Fatalf("validate.Layer() = %v", err)
		}
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatalf("Compressed() = %v", err)
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := l.Digest()
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d.String() {
		t.Errorf("sha256(Compressed()) = %s, Digest() = %s", got, d)
	}
	if sz, _ := l.Size(); sz != n {
		t.Errorf("len(Compressed()) = %d, Size() = %d", n, sz)
	}
	urc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed() = %v", err)
	}
	h.Reset()
	_, err = io.Copy(h, urc)
	urc.Close()
	if err != nil {
		t.Fatal(err)
	}
	diff, _ := l.DiffID()
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diff.String() {
		t.Errorf("sha256(Uncompressed()) = %s, DiffID() = %s", got, diff)
	}
}
