package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rawHeader builds one 512-byte ustar header block by hand, for entries
// archive/tar refuses to write (malformed PAX records, odd types).
func rawHeader(name string, typ byte, size int) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func pad(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// rawTar joins blocks: header, content (padded), ..., then the footer.
func rawTar(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, pad(p)...)
	}
	return append(out, make([]byte, 1024)...)
}

func TestHostileTar(t *testing.T) {
	var gnuLong bytes.Buffer
	tw := tar.NewWriter(&gnuLong)
	longName := strings.Repeat("g", 300)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: longName, Size: 1, Mode: 0o644, Format: tar.FormatGNU})
	tw.Write([]byte("x"))
	tw.Close()

	hugePAX := []byte(fmt.Sprintf("%d path=%s\n", 2<<20+16, strings.Repeat("p", 2<<20)))
	badPAX := []byte("garbage without a length\n")
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr error
		errHas  string
		want    string
	}{
		{"GNU long name", gnuLong.Bytes(), nil, "", longName + " 0 644 \"x\"\n"},
		{"PAX record too large", rawTar(rawHeader("PaxHeaders/f", 'x', len(hugePAX)), hugePAX, rawHeader("f", '0', 0)), nil, "too long", ""},
		{"malformed PAX record", rawTar(rawHeader("PaxHeaders/f", 'x', len(badPAX)), badPAX, rawHeader("f", '0', 0)), tar.ErrHeader, "in.tar", ""},
		{"malformed PAX is not reported as not-a-tar", rawTar(rawHeader("PaxHeaders/f", 'x', len(badPAX)), badPAX), nil, "invalid tar header", ""},
		{"unknown type", rawTar(rawHeader("weird", 'Q', 0)), ErrUnsupportedEntry, `"weird"`, ""},
		{"GNU dumpdir refused", rawTar(rawHeader("dd", 'D', 0)), ErrUnsupportedEntry, `"dd"`, ""},
		{"multi-volume refused", rawTar(rawHeader("mv", 'M', 0)), ErrUnsupportedEntry, `"mv"`, ""},
		{"contiguous file is a regular file", rawTar(rawHeader("c", '7', 2), []byte("ok")), nil, "", "c 0 644 \"ok\"\n"},
		{"old-style regular type NUL", rawTar(rawHeader("n", 0, 2), []byte("ok")), nil, "", "n 0 644 \"ok\"\n"},
		{"random bytes", bytes.Repeat([]byte{0x42}, 4096), ErrNotTar, "in.tar", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, "in.tar", tc.data)
			l, _ := FromTarball(p)
			_, err := l.Digest()
			if tc.want != "" {
				if err != nil {
					t.Fatalf("Digest() = %v", err)
				}
				if got := summary(entries(t, l)); got != tc.want {
					t.Errorf("entries = %s, want %s", got, tc.want)
				}
				check(t, l)
				return
			}
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Digest() = %v, want error wrapping %v containing %q", err, tc.wantErr, tc.errHas)
			}
			if strings.Contains(tc.name, "not reported") && errors.Is(err, ErrNotTar) {
				t.Errorf("Digest() = %v, want a header error, not ErrNotTar", err)
			}
		})
	}
}

// TestSparse: GNU and PAX sparse files (made by GNU tar) become regular
// files with their holes filled.
func TestSparse(t *testing.T) {
	gtar, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("GNU tar not installed")
	}
	d := t.TempDir()
	f, _ := os.Create(filepath.Join(d, "holes"))
	f.Truncate(1 << 20)
	f.WriteAt([]byte("data"), 600000)
	f.Close()
	for _, format := range []string{"gnu", "posix"} {
		p := filepath.Join(t.TempDir(), format+".tar")
		if out, err := exec.Command(gtar, "--sparse", "--format="+format, "-C", d, "-cf", p, "holes").CombinedOutput(); err != nil {
			t.Skipf("tar --sparse: %v: %s", err, out)
		}
		l, _ := FromTarball(p, WithRoot("/s"))
		check(t, l)
		gs := entries(t, l)
		last := gs[len(gs)-1]
		want := make([]byte, 1<<20)
		copy(want[600000:], "data")
		if last.Name != "s/holes" || last.Type != tar.TypeReg || last.Body != string(want) {
			t.Errorf("%s sparse: entry %s type %c, %d bytes; want s/holes, regular, the expanded content", format, last.Name, last.Type, len(last.Body))
		}
	}
}
