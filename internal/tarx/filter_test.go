package tarx

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		include, exclude []string
		keep, drop       []string
		skip, walk       []string // directories SkipDir must / must not skip
	}{{
		exclude: []string{"*.log", "!keep.log", "node_modules", "!node_modules/keep/**", "/build"},
		keep:    []string{"keep.log", "main.go", "node_modules/keep/a.js", "src/x.log.txt"},
		drop:    []string{"a.log", "node_modules/x/y.js", "build", "build/out"},
		skip:    []string{"build"},
		walk:    []string{"node_modules", "src"},
	}, {
		include: []string{"services/api/**"},
		exclude: []string{"**/node_modules"},
		keep:    []string{"services/api/main.go", "services/api/x/y.go"},
		drop:    []string{"services/web/main.go", "README.md", "services/api/node_modules/a"},
		skip:    []string{"services/web", "libs", "services/api/node_modules", "services/apix"},
		walk:    []string{"services", "services/api", "services/api/internal"},
	}, {
		exclude: []string{"**/*.md", "!docs/**/*.md"},
		keep:    []string{"docs/a/b.md", "go.mod"},
		drop:    []string{"README.md", "x/y/z.md"},
		walk:    []string{"docs", "x"},
	}, {
		exclude: []string{"vendor", "!**/LICENSE"},
		keep:    []string{"vendor/a/LICENSE"},
		drop:    []string{"vendor/a/x.go"},
		walk:    []string{"vendor"}, // "**" could re-include anything
	}} {
		f, err := NewFilter(tc.include, tc.exclude)
		require.NoError(t, err)
		for _, p := range tc.keep {
			assert.True(t, f.Keep(p), "Filter(%q, %q).Keep(%q)", tc.include, tc.exclude, p)
		}
		for _, p := range tc.drop {
			assert.False(t, f.Keep(p), "Filter(%q, %q).Keep(%q)", tc.include, tc.exclude, p)
		}
		for _, d := range tc.skip {
			assert.True(t, f.SkipDir(d), "Filter(%q, %q).SkipDir(%q)", tc.include, tc.exclude, d)
		}
		for _, d := range tc.walk {
			assert.False(t, f.SkipDir(d), "Filter(%q, %q).SkipDir(%q)", tc.include, tc.exclude, d)
		}
	}
}

// FuzzFilter: SkipDir is only an optimization, so it must never skip a
// directory under which Keep would keep something, for any patterns.
func FuzzFilter(f *testing.F) {
	f.Add("services/api/**", "**/node_modules\n!**/keep", "services/api/node_modules/keep")
	f.Add("", "*.log\n!keep.log\nbuild", "build/keep.log")
	f.Add("a*/b", "", "ab/b/c")
	f.Add("", "vendor\n!vendor/x/**", "vendor/x/y")
	f.Fuzz(func(t *testing.T, inc, exc, name string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\n")
		}
		flt, err := NewFilter(split(inc), split(exc))
		if err != nil || flt == nil {
			return
		}
		name, err = SourceName(name)
		if err != nil || name == "" {
			return
		}
		if !flt.Keep(name) {
			return
		}
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			require.False(t, flt.SkipDir(d), "NewFilter(%q, %q): Keep(%q) = true but SkipDir(%q)", inc, exc, name, d)
		}
	})
}
func TestRulesMatchPrefix(t *testing.T) {
	f, err := NewFilter(nil, []string{"services/api/node_modules", "**/*.log", "!services/api/keep.log"})
	require.NoError(t, err)
	r := &Rules{Filter: f, MatchPrefix: "services/api"}
	for _, tc := range []struct {
		rel        string
		dir        bool
		keep, skip bool
	}{
		{"node_modules", true, false, true},
		{"node_modules/x.js", false, false, false},
		{"debug.log", false, false, false},
		{"keep.log", false, true, false},
		{"src", true, true, false},
	} {
		assert.Equal(t, tc.keep, r.Keep(tc.rel), "Rules{MatchPrefix: services/api}.Keep(%q)", tc.rel)
		if tc.dir {
			assert.Equal(t, tc.skip, r.SkipDir(tc.rel), "Rules{MatchPrefix: services/api}.SkipDir(%q)", tc.rel)
		}
	}
}
