package tarx

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/moby/patternmatcher"
)

// Filter decides which relative paths a source keeps, with .dockerignore
// semantics (github.com/moby/patternmatcher).
type Filter struct {
	include *patternmatcher.PatternMatcher // nil: include everything
	exclude *patternmatcher.PatternMatcher // nil: exclude nothing
	incPats []string
	excPats []string // "!"-prefixed ones are re-inclusions
	// incEach matches each positive include pattern on its own, to tell
	// which patterns kept nothing.
	incEach  []*patternmatcher.PatternMatcher
	incNames []string
}

func (f *Filter) includes() int {
	if f == nil {
		return 0
	}
	return len(f.incEach)
}

func (f *Filter) includeNames() []string {
	if f == nil {
		return nil
	}
	return f.incNames
}

// markIncluded sets seen[i] for each positive include pattern that
// matches rel, one of its parents, or (for a kept directory) something
// the pattern names below it.
func (f *Filter) markIncluded(rel string, seen []bool) {
	for i, pm := range f.incEach {
		if seen[i] {
			continue
		}
		if ok, err := pm.MatchesOrParentMatches(rel); err == nil && ok {
			seen[i] = true
		}
	}
}

// NewFilter compiles include and exclude patterns (either may be empty).
// Leading slashes are dropped: patterns are relative to the source.
func NewFilter(include, exclude []string) (*Filter, error) {
	f := &Filter{}
	var err error
	if len(include) > 0 {
		f.incPats = normalizePatterns(include)
		if f.include, err = newMatcher(f.incPats); err != nil {
			return nil, fmt.Errorf("include patterns: %w", err)
		}
		for _, p := range f.incPats {
			if strings.HasPrefix(p, "!") {
				continue
			}
			pm, err := patternmatcher.New([]string{p})
			if err != nil {
				return nil, fmt.Errorf("include patterns: %w", err)
			}
			f.incEach = append(f.incEach, pm)
			f.incNames = append(f.incNames, p)
		}
	}
	if len(exclude) > 0 {
		f.excPats = normalizePatterns(exclude)
		if f.exclude, err = newMatcher(f.excPats); err != nil {
			return nil, fmt.Errorf("exclude patterns: %w", err)
		}
	}
	if f.include == nil && f.exclude == nil {
		return nil, nil
	}
	return f, nil
}

// newMatcher compiles patterns and checks that each one can be matched:
// patternmatcher.New accepts patterns whose regexp fails only when first
// matched (a bad escape such as `\1`), and Keep would then silently leave
// out (or keep) every entry. docker build refuses such patterns too.
func newMatcher(patterns []string) (*patternmatcher.PatternMatcher, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, err
	}
	for _, p := range pm.Patterns() {
		one, err := patternmatcher.New([]string{p.String()})
		if err == nil {
			_, err = one.MatchesOrParentMatches("x")
		}
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p.String(), err)
		}
	}
	return pm, nil
}

func normalizePatterns(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		p = strings.TrimSpace(p)
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		// A fixed point of patternmatcher's own TrimSpace + Clean, with
		// leading slashes dropped as .dockerignore does.
		for range 8 {
			q := strings.TrimSpace(path.Clean(strings.TrimLeft(strings.TrimSpace(p), "/")))
			if q == p {
				break
			}
			p = q
		}
		if p == "" || p == "." {
			continue
		}
		if neg {
			p = "!" + p
		}
		out = append(out, p)
	}
	return out
}

// Keep reports whether the relative slash path rel is kept.
func (f *Filter) Keep(rel string) bool {
	if f == nil || rel == "" {
		return true
	}
	if f.include != nil {
		ok, err := f.include.MatchesOrParentMatches(rel)
		if err != nil || !ok {
			return false
		}
	}
	if f.exclude != nil {
		ex, err := f.exclude.MatchesOrParentMatches(rel)
		if err != nil || ex {
			return false
		}
	}
	return true
}

// SkipDir reports whether nothing at or under the directory rel can be
// kept: no include pattern can match it or below it, or it is excluded
// and no "!" pattern can re-include anything below it.
func (f *Filter) SkipDir(rel string) bool {
	if f == nil || rel == "" {
		return false
	}
	if f.include != nil {
		can := false
		for _, p := range f.include.Patterns() {
			if !p.Exclusion() && couldMatchAtOrUnder(p.String(), rel) {
				can = true
				break
			}
		}
		if !can {
			return true
		}
	}
	if f.exclude != nil {
		ex, err := f.exclude.MatchesOrParentMatches(rel)
		if err == nil && ex {
			for _, p := range f.exclude.Patterns() {
				if p.Exclusion() && couldMatchAtOrUnder(p.String(), rel) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// couldMatchAtOrUnder reports whether pattern could match dir, one of its
// ancestors, or a path below dir. It is conservative: "**" anywhere, or a
// component it cannot judge, answers true.
func couldMatchAtOrUnder(pattern, dir string) bool {
	if !utf8.ValidString(pattern) || !utf8.ValidString(dir) {
		return true // patternmatcher's regexps and path.Match disagree there
	}
	if strings.ContainsAny(pattern, `[]\|(){}+^$`) {
		return true // regexp syntax patternmatcher passes through: do not judge
	}
	pc := strings.Split(pattern, "/")
	dc := strings.Split(dir, "/")
	for i, d := range dc {
		if i >= len(pc) {
			return true // the pattern matches an ancestor of (or) dir
		}
		if strings.Contains(pc[i], "**") {
			return true
		}
		ok, err := path.Match(pc[i], d)
		if err != nil {
			return true
		}
		if !ok {
			return false
		}
	}
	return true
}
