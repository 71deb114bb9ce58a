package layer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModeSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		in   int64
		dir  bool
		want int64
	}{
		{"0755", 0o600, false, 0o755},
		{"644", 0o4755, false, 0o644},
		{"0", 0o777, false, 0},
		{"4755", 0o644, false, 0o4755},
		{"7777", 0, true, 0o7777},
		{"u+x", 0o644, false, 0o744},
		{"+x", 0o644, false, 0o755},
		{"a+x", 0o600, false, 0o711},
		{"go-w", 0o666, false, 0o644},
		{"u=rw,go=r", 0o777, false, 0o644},
		{"a=rX", 0o700, true, 0o555},
		{"a=rX", 0o600, false, 0o444},
		{"a=rX", 0o700, false, 0o555},
		{"g=u", 0o640, false, 0o660},
		{"o=g", 0o750, false, 0o755},
		{"u+s", 0o755, false, 0o4755},
		{"g+s", 0o755, true, 0o2755},
		{"+t", 0o777, true, 0o1777},
		{"u-x+s", 0o755, false, 0o4655},
		{"o=", 0o777, false, 0o770},
	} {
		m, err := parseModeSpec(tc.spec)
		require.NoError(t, err, "parseModeSpec(%q)", tc.spec)
		assert.Equal(t, tc.want, m.apply(tc.in, tc.dir), "parseModeSpec(%q).apply(%o, dir=%v) = %o, want %o",
			tc.spec, tc.in, tc.dir, m.apply(tc.in, tc.dir), tc.want)
	}
}

func TestModeSpecErrors(t *testing.T) {
	for _, spec := range []string{"", "8", "0799", "10000", "-1", "u", "u+y", "q+x", "u+x,", "u+ug"} {
		_, err := parseModeSpec(spec)
		assert.Error(t, err, "parseModeSpec(%q)", spec)
		_, err = New(context.Background(), []Source{Dir(".", WithChmod(spec))})
		assert.ErrorIs(t, err, ErrOption, "Dir with WithChmod(%q)", spec)
	}
}

func TestWithChmod(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "bin/tool", "doc/readme", "link -> doc/readme")
	chmod(t, filepath.Join(d, "bin/tool"), 0o755)
	for _, tc := range []struct {
		name string
		src  Source
		want string
	}{
		{"octal on a tree", Dir(d, WithChmod("0640"), WithRoot("/app")),
			"app/ 5 755\napp/bin/ 5 640\napp/bin/tool 0 640 \"tool\"\napp/doc/ 5 640\napp/doc/readme 0 640 \"readme\"\napp/link 2 777 -> doc/readme\n"},
		{"symbolic on a tree", Dir(d, WithChmod("go-rwx")),
			"bin/ 5 700\nbin/tool 0 700 \"tool\"\ndoc/ 5 700\ndoc/readme 0 600 \"readme\"\nlink 2 777 -> doc/readme\n"},
		{"host file", HostFile(filepath.Join(d, "bin/tool"), "/t", WithChmod("4711")), "t 0 4711 \"tool\"\n"},
		{"files", Files([]File{{Path: "f", Data: []byte("x")}}, WithChmod("u+x")), "f 0 744 \"x\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(context.Background(), []Source{tc.src})
			require.NoError(t, err)
			assert.Equal(t, tc.want, summary(entries(t, l)), "entries with WithChmod")
		})
	}
}

func TestWithChmodCacheKey(t *testing.T) {
	cacheDir, d := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644))
	digest := func(opts ...Option) string {
		t.Helper()
		l, err := FromDir(d, append(opts, WithCache(cacheDir))...)
		require.NoError(t, err)
		h, err := l.Digest()
		require.NoError(t, err)
		return h.String()
	}
	plain, x, w := digest(), digest(WithChmod("0755")), digest(WithChmod("0700"))
	assert.NotEqual(t, plain, x, "WithChmod changes the cached layer")
	assert.NotEqual(t, x, w, "two modes, two cache entries")
	assert.Equal(t, x, digest(WithChmod("0755")), "same mode, same digest")
}
