package layer

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

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
