package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

func TestHostileTar(t *testing.T) {
	longName := strings.Repeat("g", 300)
	gnuLong := tartest.Bytes(t, tartest.File(longName, "x").WithFormat(tar.FormatGNU))

	hugePAX := []byte(fmt.Sprintf("%d path=%s\n", 2<<20+16, strings.Repeat("p", 2<<20)))
	badPAX := []byte("garbage without a length\n")
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr error
		errHas  string
		want    string
	}{
		{"GNU long name", gnuLong, nil, "", longName + " 0 644 \"x\"\n"},
		{"PAX record too large", tartest.Raw(tartest.RawFile("PaxHeaders/f", 'x', hugePAX), tartest.RawHeader("f", '0', 0)), nil, "too long", ""},
		{"malformed PAX record", tartest.Raw(tartest.RawFile("PaxHeaders/f", 'x', badPAX), tartest.RawHeader("f", '0', 0)), tar.ErrHeader, "in.tar", ""},
		{"malformed PAX is not reported as not-a-tar", tartest.Raw(tartest.RawFile("PaxHeaders/f", 'x', badPAX)), nil, "invalid tar header", ""},
		{"unknown type", tartest.Raw(tartest.RawHeader("weird", 'Q', 0)), ErrUnsupportedEntry, `"weird"`, ""},
		{"GNU dumpdir refused", tartest.Raw(tartest.RawHeader("dd", 'D', 0)), ErrUnsupportedEntry, `"dd"`, ""},
		{"multi-volume refused", tartest.Raw(tartest.RawHeader("mv", 'M', 0)), ErrUnsupportedEntry, `"mv"`, ""},
		{"contiguous file is a regular file", tartest.Raw(tartest.RawFile("c", '7', []byte("ok"))), nil, "", "c 0 644 \"ok\"\n"},
		{"old-style regular type NUL", tartest.Raw(tartest.RawFile("n", 0, []byte("ok"))), nil, "", "n 0 644 \"ok\"\n"},
		{"random bytes", bytes.Repeat([]byte{0x42}, 4096), ErrNotTar, "in.tar", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tartest.TempFile(t, "in.tar", tc.data)
			l, err := FromTarball(p)
			require.NoError(t, err, "FromTarball()")
			_, err = l.Digest()
			if tc.want != "" {
				require.NoError(t, err, "Digest()")
				assert.Equal(t, tc.want, summary(entries(t, l)), "entries")
				check(t, l)
				return
			}
			require.ErrorContains(t, err, tc.errHas, "Digest()")
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr, "Digest()")
			}
			if strings.Contains(tc.name, "not reported") {
				assert.NotErrorIs(t, err, ErrNotTar, "Digest() = %v, want a header error, not ErrNotTar", err)
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
	f, err := os.Create(filepath.Join(d, "holes"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<20))
	_, err = f.WriteAt([]byte("data"), 600000)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	for _, format := range []string{"gnu", "posix"} {
		p := filepath.Join(t.TempDir(), format+".tar")
		if out, err := exec.Command(gtar, "--sparse", "--format="+format, "-C", d, "-cf", p, "holes").CombinedOutput(); err != nil {
			t.Skipf("tar --sparse: %v: %s", err, out)
		}
		l, err := FromTarball(p, WithRoot("/s"))
		require.NoError(t, err, "FromTarball(%s)", p)
		check(t, l)
		gs := entries(t, l)
		require.NotEmpty(t, gs, "entries of the %s tarball", format)
		last := gs[len(gs)-1]
		want := make([]byte, 1<<20)
		copy(want[600000:], "data")
		assert.Equal(t, "s/holes", last.Name, "%s sparse: name", format)
		assert.Equal(t, byte(tar.TypeReg), last.Type, "%s sparse: type", format)
		assert.True(t, last.Body == string(want), "%s sparse: %d bytes, want the expanded content", format, len(last.Body))
	}
}
