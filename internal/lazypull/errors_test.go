package lazypull_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestWriteInvalid rejects bad options and inputs before or while
// building, with the package's sentinels where it has one.
func TestWriteInvalid(t *testing.T) {
	input := tartest.Bytes(t, fixture()[:3]...)
	zst, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	gz := func() []byte { b, _ := write(t, input, lazypull.EStargz); return b }()
	for _, tc := range []struct {
		name  string
		f     lazypull.Format
		input []byte
		opts  []lazypull.Option
		want  error // nil: any error
	}{
		{"unknown format", lazypull.Format(9), input, nil, lazypull.ErrInvalidOption},
		{"zero format", 0, input, nil, lazypull.ErrInvalidOption},
		{"level 0", lazypull.EStargz, input, []lazypull.Option{lazypull.WithLevel(0)}, lazypull.ErrInvalidOption},
		{"gzip level 10", lazypull.EStargz, input, []lazypull.Option{lazypull.WithLevel(10)}, lazypull.ErrInvalidOption},
		{"zstd level 23", lazypull.ZstdChunked, input, []lazypull.Option{lazypull.WithLevel(23)}, lazypull.ErrInvalidOption},
		{"empty temp dir", lazypull.EStargz, input, []lazypull.Option{lazypull.WithTempDir("")}, lazypull.ErrInvalidOption},
		{"empty prioritized name", lazypull.EStargz, input, []lazypull.Option{lazypull.WithPrioritizedFiles("")}, lazypull.ErrInvalidOption},
		{"root as prioritized name", lazypull.EStargz, input, []lazypull.Option{lazypull.WithPrioritizedFiles("/")}, lazypull.ErrInvalidOption},
		{"gzip input", lazypull.EStargz, gz, nil, lazypull.ErrCompressedInput},
		{"zstd input", lazypull.ZstdChunked, zst.EncodeAll(input, nil), nil, lazypull.ErrCompressedInput},
		{"truncated tar", lazypull.EStargz, input[:700], nil, nil},
		{"missing temp dir", lazypull.EStargz, input, []lazypull.Option{lazypull.WithTempDir(filepath.Join(t.TempDir(), "none"))}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := lazypull.Write(context.Background(), io.Discard, bytes.NewReader(tc.input), tc.f, tc.opts...)
			require.Error(t, err, "Write(%s) = %+v", tc.name, res)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// TestWriteMissingPrioritized lists the prioritized names the tar does not
// hold (a name whose parent directory has no entry counts as missing: the
// library moves parents first) and builds the layer all the same.
func TestWriteMissingPrioritized(t *testing.T) {
	files := fixture()
	input := tartest.Bytes(t, files...)
	for _, f := range formats {
		blob, res := write(t, input, f, lazypull.WithPrioritizedFiles("bin/none", "app/hello", "./etc/passwd"))
		assert.Equal(t, []string{"bin/none", "etc/passwd"}, res.MissingPrioritized, "Write(%v).MissingPrioritized", f)
		got, _ := tarEntries(t, bytes.NewReader(decompress(t, f, blob)))
		require.GreaterOrEqual(t, len(got), 3)
		assert.Equal(t, []string{"app", "app/hello", lazypull.PrefetchLandmark},
			[]string{got[0].Name, got[1].Name, got[2].Name}, "Write(%v) first entries", f)
	}
}

// TestParseFormat round-trips the format names.
func TestParseFormat(t *testing.T) {
	for _, f := range formats {
		got, err := lazypull.ParseFormat(f.String())
		require.NoError(t, err)
		assert.Equal(t, f, got, "ParseFormat(%q)", f.String())
	}
	_, err := lazypull.ParseFormat("gzip")
	assert.ErrorIs(t, err, lazypull.ErrInvalidOption, "ParseFormat(gzip)")
	assert.Equal(t, "gzip", lazypull.EStargz.Compression().String())
	assert.Equal(t, "zstd", lazypull.ZstdChunked.Compression().String())
}
