package layer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/epoch"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Source is one input of a layer built with New. Make one with Dir,
// Tarball, URL, FS, Files, Deletions or Opaque. A Source only describes
// its input (nothing is read until the layer is built), so one Source may
// serve several layers.
type Source interface {
	// describe returns the source's part of the layer's history text.
	describe() string
	// prepare resolves the source's rules when the layer is built.
	prepare() (*prepared, error)
	// whiteouts registers the source's deletions with w, before any
	// source places an entry.
	whiteouts(w *tarx.Writer, p *prepared) error
	// key adds to k what determines the source's entries, and reports
	// false when it cannot without reading the whole source.
	key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error)
	// write places the source's entries.
	write(ctx context.Context, w *tarx.Writer, p *prepared) error
	// input says what the source is, for the layer's Facts; ok is false
	// for sources that are not inputs (deletions).
	input(ctx context.Context, p *prepared) (in Input, ok bool, err error)
}

// prepared is what a source resolves when the layer is built: its rules
// (ignore files read, SOURCE_DATE_EPOCH applied) and, for the cache key,
// the resolved patterns.
type prepared struct {
	rules   *tarx.Rules
	include []string
	exclude []string
	modTime time.Time
	chmod   string // the WithChmod spec, for the cache key
	// override: every entry gets modTime (tarballs and files keep their
	// own unless WithModTime is given).
	override bool
	// sums remembers content hashes by stat key, for key.
	sums sumMemo
	// seen is what the first walk of the source in this build saw, which
	// every later walk must see again (see walkCheck).
	seen firstWalk
	// sha256 is the hex content hash of the source this build found: the
	// sha256 of what a download or a tarball read, or of a tree's content
	// (dir, fs), recorded by the write or the cache key that computed it,
	// so that Facts does not read the source again.
	sha256 string
}

// sourceBase holds the options every source kind but Deletions shares, and
// what derives from them.
type sourceBase struct {
	opts *sourceOptions
	// keepsTimes: entries keep their own mtimes unless WithModTime.
	keepsTimes bool
}

func newSourceBase(kind sourceKinds, what string, opts []SourceOption) (sourceBase, error) {
	o, err := applySourceOptions(opts)
	if err != nil {
		return sourceBase{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := o.check(kind, what); err != nil {
		return sourceBase{}, err
	}
	return sourceBase{opts: o, keepsTimes: kind&(kindTarball|kindURL|kindFiles) != 0}, nil
}

// newSource is newSourceBase for the constructor what, whose argument
// is missing when missing is true: an error wrapping ErrInvalidOption
// that says problem.
func newSource(kind sourceKinds, what string, opts []SourceOption, missing bool, problem string) (sourceBase, error) {
	t, err := newSourceBase(kind, what, opts)
	if err == nil && missing {
		err = optErr(what, "%s", problem)
	}
	return t, err
}

func (t sourceBase) whiteouts(*tarx.Writer, *prepared) error { return nil }

// root is the destination in the image, for history.
func (t sourceBase) root() string { return "/" + t.opts.root }

func (t sourceBase) prepare() (*prepared, error) {
	o := t.opts
	mt, err := epoch.Or(epoch.Default)
	if err != nil {
		return nil, err
	}
	if o.modTimeSet {
		mt = o.modTime
	}
	p := &prepared{modTime: mt, override: o.modTimeSet || !t.keepsTimes}
	for _, f := range o.filters {
		switch {
		case f.file != "":
			pats, err := readIgnoreFile(f.file)
			if err != nil {
				return nil, err
			}
			p.exclude = append(p.exclude, pats...)
		case f.include:
			p.include = append(p.include, f.patterns...)
		default:
			p.exclude = append(p.exclude, f.patterns...)
		}
	}
	filter, err := tarx.NewFilter(p.include, p.exclude)
	if err != nil {
		// Only an ignore file can bring a bad pattern this far: the
		// pattern options check theirs when they are applied.
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	p.rules = &tarx.Rules{
		Root:            o.root,
		Strip:           o.strip,
		Only:            o.only,
		Filter:          filter,
		ModTime:         mt,
		OverrideModTime: p.override,
		UID:             o.uid,
		GID:             o.gid,
		PreserveOwner:   o.preserveOwner,
		MatchPrefix:     o.matchPrefix,
	}
	if o.chmod != nil {
		p.rules.Chmod, p.chmod = o.chmod.apply, o.chmod.spec
	}
	return p, nil
}

// readIgnoreFile reads the patterns of a .dockerignore-style file,
// refusing what docker build refuses.
func readIgnoreFile(name string) ([]string, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(fh, 16<<20))
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", name, err)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "!" {
			// docker build refuses it; ignorefile drops it.
			return nil, fmt.Errorf("%w: ignore file %s, line %d: illegal exclusion pattern \"!\"", ErrInvalidOption, name, i+1)
		}
	}
	pats, err := ignorefile.ReadAll(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading ignore file %s: %w", name, err)
	}
	// What docker build refuses (patternmatcher.New on exactly these
	// patterns: "/!" is a lone "!" too), and patterns that cannot be
	// matched.
	if _, err := patternmatcher.New(pats); err != nil {
		return nil, fmt.Errorf("%w: ignore file %s: %w", ErrInvalidOption, name, err)
	}
	if _, err := tarx.NewFilter(nil, pats); err != nil {
		return nil, fmt.Errorf("%w: ignore file %s: %w", ErrInvalidOption, name, err)
	}
	return pats, nil
}

// keyRules adds the rules of p to k.
func keyRules(k *cache.KeyBuilder, kind string, p *prepared) {
	r := p.rules
	k.AddString(kind).AddString(r.Root).AddInt(int64(r.Strip)).AddStrings(r.Only...)
	k.AddStrings(p.include...).AddStrings(p.exclude...)
	k.AddInt(p.modTime.Unix()).AddBool(p.override)
	k.AddInt(int64(r.UID)).AddInt(int64(r.GID)).AddBool(r.PreserveOwner)
	// Added only when set, so that the keys of layers without them stay.
	if r.MatchPrefix != "" {
		k.AddString("matchprefix").AddString(r.MatchPrefix)
	}
	if p.chmod != "" {
		k.AddString("chmod").AddString(p.chmod)
	}
}

// unmatched reports the WithOnly names and WithInclude patterns of p that
// kept nothing.
func unmatched(p *prepared, what string) error {
	if p.rules == nil {
		return nil
	}
	if u := p.rules.Unmatched(); len(u) > 0 {
		why := ""
		if p.rules.Excludes() {
			why = " (no such entry, or excluded by WithExclude or WithIgnoreFile)"
		}
		return fmt.Errorf("%w: %s: %s%s", ErrNoMatch, what, strings.Join(u, ", "), why)
	}
	return nil
}

// place rewrites a source header with the rules and places it; placed
// is false when the rules leave it out.
func place(w *tarx.Writer, p *prepared, e tarx.Entry) (placed bool, err error) {
	if src, err := tarx.SourceName(e.Header.Name); err == nil && src == "" {
		e.Weak = true // the source's own root, placed at WithRoot
	}
	out, err := p.rules.Rewrite(e.Header)
	if tarx.Skipped(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e.Header = out
	return true, placeRewritten(w, p, e)
}

// placeRewritten places e, whose header p's rules have rewritten, with w.
func placeRewritten(w *tarx.Writer, p *prepared, e tarx.Entry) error {
	e.ParentModTime = p.modTime
	if e.Source == "" {
		e.Source = e.Header.Name
	}
	return w.Place(e)
}

// invalid is the Source a constructor returns for invalid arguments: New
// reports its error.
type invalid struct{ err error }

func (s invalid) describe() string                        { return "invalid source" }
func (s invalid) prepare() (*prepared, error)             { return nil, s.err }
func (s invalid) whiteouts(*tarx.Writer, *prepared) error { return s.err }
func (s invalid) key(context.Context, *cache.KeyBuilder, *prepared) (bool, error) {
	return false, s.err
}
func (s invalid) write(context.Context, *tarx.Writer, *prepared) error  { return s.err }
func (s invalid) input(context.Context, *prepared) (Input, bool, error) { return Input{}, false, s.err }
