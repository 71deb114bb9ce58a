package cache

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeyUnambiguous(t *testing.T) {
	builds := map[string]func() *KeyBuilder{
		`v1`:              func() *KeyBuilder { return NewKey("v1") },
		`v2`:              func() *KeyBuilder { return NewKey("v2") },
		`v1 "ab" "c"`:     func() *KeyBuilder { return NewKey("v1").AddString("ab").AddString("c") },
		`v1 "a" "bc"`:     func() *KeyBuilder { return NewKey("v1").AddString("a").AddString("bc") },
		`v1 "abc"`:        func() *KeyBuilder { return NewKey("v1").AddString("abc") },
		`v1 "" "abc"`:     func() *KeyBuilder { return NewKey("v1").AddString("").AddString("abc") },
		`v1 bytes "abc"`:  func() *KeyBuilder { return NewKey("v1").AddBytes([]byte("abc")) },
		`v1 ["ab" "c"]`:   func() *KeyBuilder { return NewKey("v1").AddStrings("ab", "c") },
		`v1 ["ab"] ["c"]`: func() *KeyBuilder { return NewKey("v1").AddStrings("ab").AddStrings("c") },
		`v1 []`:           func() *KeyBuilder { return NewKey("v1").AddStrings() },
		`v1 int 1`:        func() *KeyBuilder { return NewKey("v1").AddInt(1) },
		`v1 uint 1`:       func() *KeyBuilder { return NewKey("v1").AddUint(1) },
		`v1 true`:         func() *KeyBuilder { return NewKey("v1").AddBool(true) },
		`v1 false`:        func() *KeyBuilder { return NewKey("v1").AddBool(false) },
		`v1 int -1`:       func() *KeyBuilder { return NewKey("v1").AddInt(-1) },
		`v1 int 0`:        func() *KeyBuilder { return NewKey("v1").AddInt(0) },
		`v1 "v1"`:         func() *KeyBuilder { return NewKey("v1").AddString("v1") },
		`"" "v1"`:         func() *KeyBuilder { return NewKey("").AddString("v1") },
		`v1 reader "abc"`: func() *KeyBuilder {
			b := NewKey("v1")
			require.NoError(t, b.AddReader(3, strings.NewReader("abc")))
			return b
		},
	}
	seen := map[string]string{}
	valid := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for name, build := range builds {
		sum := build().Sum()
		assert.Regexp(t, valid, sum, "NewKey(%s).Sum(): want 64 hex digits", name)
		assert.NoError(t, validateKey(sum), "validateKey(NewKey(%s).Sum())", name)
		assert.Equal(t, sum, build().Sum(), "NewKey(%s).Sum() twice", name)
		if other, ok := seen[sum]; ok {
			t.Errorf("NewKey(%s).Sum() = NewKey(%s).Sum() = %s, want different", name, other, sum)
		}
		seen[sum] = name
	}
}

func TestKeyAddReader(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		data    string
		wantErr error
	}{
		{"exact", 3, "abc", nil},
		{"empty", 0, "", nil},
		{"short", 4, "abc", io.ErrUnexpectedEOF},
		{"long", 2, "abc", errors.New("more")},
		{"negative", -1, "", errors.New("negative")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewKey("v").AddReader(tt.size, strings.NewReader(tt.data))
			switch {
			case tt.wantErr == nil:
				assert.NoError(t, err, "AddReader(%d, %q)", tt.size, tt.data)
			case tt.wantErr == io.ErrUnexpectedEOF:
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "AddReader(%d, %q)", tt.size, tt.data)
			default:
				assert.ErrorContains(t, err, tt.wantErr.Error(), "AddReader(%d, %q)", tt.size, tt.data)
			}
		})
	}
	// Streaming equals AddReader of the same bytes whatever the reader's
	// chunking.
	data := content(9, 100000)
	a := NewKey("v")
	require.NoError(t, a.AddReader(int64(len(data)), bytes.NewReader(data)))
	b := NewKey("v")
	require.NoError(t, b.AddReader(int64(len(data)), io.MultiReader(bytes.NewReader(data[:7]), bytes.NewReader(data[7:]))))
	assert.Equal(t, a.Sum(), b.Sum(), "AddReader sums with and without chunking")
}
