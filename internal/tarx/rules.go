package tarx

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Rules rewrite the entries of one source: strip, filter, re-root, and
// normalize ownership and times.
type Rules struct {
	Root  string // clean relative directory, "" for the layer root
	Strip int
	// Only keeps entries equal to or under these clean relative names.
	Only   []string
	Filter *Filter // nil keeps everything
	// ModTime is the mtime of synthesized parents, and of every entry
	// when OverrideModTime is set.
	ModTime         time.Time
	OverrideModTime bool
	UID, GID        int
	PreserveOwner   bool
	// MatchPrefix, when set, is put before a name (with a "/") to match
	// it against Filter: patterns written for a parent directory.
	MatchPrefix string
	// Chmod, when set, gives the mode of every entry but symlinks from
	// its mode (permission bits, 0o7777) and whether it is a directory.
	Chmod func(mode int64, dir bool) int64

	onlySeen []bool // which Only names kept an entry
	incSeen  []bool // which include patterns kept an entry
}

// noteKept records which Only names and include patterns the kept,
// stripped relative name rel matches.
func (r *Rules) noteKept(rel string) {
	if len(r.Only) > 0 {
		if r.onlySeen == nil {
			r.onlySeen = make([]bool, len(r.Only))
		}
		for i, o := range r.Only {
			if !r.onlySeen[i] && within(rel, o) {
				r.onlySeen[i] = true
			}
		}
	}
	if n := r.Filter.includes(); n > 0 {
		if r.incSeen == nil {
			r.incSeen = make([]bool, n)
		}
		r.Filter.markIncluded(r.matchName(rel), r.incSeen)
	}
}

// Unmatched returns the Only names and include patterns that kept no
// entry so far, each quoted and named by its option.
func (r *Rules) Unmatched() []string {
	var out []string
	for i, o := range r.Only {
		if r.onlySeen == nil || !r.onlySeen[i] {
			out = append(out, fmt.Sprintf("WithOnly(%q)", o))
		}
	}
	for i, p := range r.Filter.includeNames() {
		if r.incSeen == nil || !r.incSeen[i] {
			out = append(out, fmt.Sprintf("WithInclude(%q)", p))
		}
	}
	return out
}

// Excludes reports whether the rules have exclude patterns, which may be
// what left an Only name or include pattern unmatched.
func (r *Rules) Excludes() bool { return r.Filter != nil && len(r.Filter.excPats) > 0 }

// SourceName cleans a source entry name: slashes, no leading "/" or "./",
// no "." or ".." components. A name that leaves the root is an error
// wrapping ErrEscapesRoot. The root itself is "".
func SourceName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("entry %q: NUL in name: %w", name, ErrUnsupportedEntry)
	}
	n := strings.TrimLeft(name, "/")
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q: %w", name, ErrEscapesRoot)
	}
	if c == "." {
		c = ""
	}
	return c, nil
}

func (r *Rules) join(name string) string {
	switch {
	case r.Root == "":
		return name
	case name == "":
		return r.Root
	}
	return r.Root + "/" + name
}

// stripped removes the first r.Strip components of name; ok is false when
// nothing is left.
func (r *Rules) stripped(name string) (string, bool) {
	for range r.Strip {
		i := strings.IndexByte(name, '/')
		if i < 0 {
			return "", false
		}
		name = name[i+1:]
	}
	return name, name != ""
}

// Stripped is name minus the first Strip components, or "" when nothing
// is left.
func (r *Rules) Stripped(name string) string {
	s, _ := r.stripped(name)
	return s
}

// Keep reports whether the stripped relative name passes Only and the
// filter.
func (r *Rules) Keep(rel string) bool {
	return rel == "" || r.onlyHas(rel, false) && r.Filter.Keep(r.matchName(rel))
}

// onlyHas reports whether Only is empty or names rel or a directory above
// it; with onPath, also a name below rel (rel is a directory on the way
// to it).
func (r *Rules) onlyHas(rel string, onPath bool) bool {
	if len(r.Only) == 0 {
		return true
	}
	for _, o := range r.Only {
		if within(rel, o) || onPath && within(o, rel) {
			return true
		}
	}
	return false
}

// KeepOnly reports whether the stripped relative name rel passes Only
// (whatever the filter says of it).
func (r *Rules) KeepOnly(rel string) bool { return r.onlyHas(rel, false) }

// within reports whether the relative name rel is dir or below it.
func within(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// matchName is rel as Filter sees it.
func (r *Rules) matchName(rel string) string {
	if r.MatchPrefix == "" {
		return rel
	}
	return r.MatchPrefix + "/" + rel
}

// SkipDir reports whether nothing at or under the stripped relative
// directory rel can be kept, so a walk need not enter it.
func (r *Rules) SkipDir(rel string) bool {
	return rel != "" && (!r.onlyHas(rel, true) || r.Filter.SkipDir(r.matchName(rel)))
}

// Rewrite turns a source header into the header to place, or errSkip
// when the rules leave the entry out. It does not modify in. The
// returned source name is the cleaned name of the input, for errors.
func (r *Rules) Rewrite(in *tar.Header) (*tar.Header, error) {
	src, typ, err := entryType(in)
	if err != nil {
		return nil, err
	}
	rel, keep, err := r.kept(src, typ)
	if err != nil || !keep {
		return nil, err
	}
	return r.rewrite(in, typ, rel)
}

// RewriteKept is Rewrite for an entry whose stripped relative name rel
// the caller has already passed through Keep, as a walk does to decide
// from names alone what to stat: the filter runs once per entry.
func (r *Rules) RewriteKept(in *tar.Header, rel string) (*tar.Header, error) {
	_, typ, err := entryType(in)
	if err != nil {
		return nil, err
	}
	r.noteKept(rel)
	return r.rewrite(in, typ, rel)
}

// rewrite builds the header placing in, of layer type typ, at the
// stripped relative name rel.
func (r *Rules) rewrite(in *tar.Header, typ byte, rel string) (*tar.Header, error) {
	out := &tar.Header{
		Typeflag: typ,
		Name:     r.join(rel),
		Mode:     in.Mode & 0o7777,
		Uid:      r.UID,
		Gid:      r.GID,
		ModTime:  in.ModTime,
		Format:   tar.FormatUnknown,
	}
	if r.PreserveOwner {
		out.Uid, out.Gid = in.Uid, in.Gid
	}
	if r.Chmod != nil && typ != tar.TypeSymlink {
		out.Mode = r.Chmod(out.Mode, typ == tar.TypeDir)
	}
	if r.OverrideModTime || in.ModTime.IsZero() || in.ModTime.Unix() < 0 {
		out.ModTime = r.ModTime
	}
	if err := r.typeFields(in, out); err != nil {
		return nil, err
	}
	for k, v := range in.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") || strings.HasPrefix(k, "LIBARCHIVE.xattr.") {
			if out.PAXRecords == nil {
				out.PAXRecords = make(map[string]string)
			}
			out.PAXRecords[k] = v
		}
	}
	return out, nil
}

// entryType cleans the entry's name and maps its type to one a layer
// holds (errSkip for global PAX headers).
func entryType(in *tar.Header) (src string, typ byte, err error) {
	if src, err = SourceName(in.Name); err != nil {
		return "", 0, err
	}
	typ = in.Typeflag
	switch typ {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		typ = tar.TypeReg
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	case tar.TypeXGlobalHeader:
		return "", 0, errSkip // global PAX headers carry no entry
	default:
		return "", 0, fmt.Errorf("entry %q: type %q: %w", in.Name, typ, ErrUnsupportedEntry)
	}
	if src == "" && typ != tar.TypeDir {
		return "", 0, fmt.Errorf("entry %q: non-directory with empty name: %w", in.Name, ErrUnsupportedEntry)
	}
	return src, typ, nil
}

// kept applies strip and the filters to the clean source name src, and
// reports the stripped name and whether the entry is kept.
func (r *Rules) kept(src string, typ byte) (rel string, keep bool, err error) {
	if src == "" && (r.Strip > 0 || r.Root == "") {
		// The source's own root ("./") is the root directory of the
		// placement, if there is one.
		return "", false, errSkip
	}
	rel, ok := src, true
	if src != "" {
		rel, ok = r.stripped(src)
	}
	if !ok || !r.Keep(rel) {
		return "", false, errSkip
	}
	r.noteKept(rel)
	return rel, true, nil
}

// typeFields sets what depends on the type: size, link targets, device
// numbers.
func (r *Rules) typeFields(in, out *tar.Header) error {
	switch out.Typeflag {
	case tar.TypeReg:
		out.Size = in.Size
	case tar.TypeSymlink:
		if in.Linkname == "" {
			return fmt.Errorf("entry %q: symlink with empty target: %w", in.Name, ErrUnsupportedEntry)
		}
		out.Linkname = in.Linkname
	case tar.TypeLink:
		t, err := SourceName(in.Linkname)
		if err != nil {
			return fmt.Errorf("entry %q: hardlink target: %w", in.Name, err)
		}
		trel, ok := r.stripped(t)
		if t == "" || !ok {
			return fmt.Errorf("entry %q: hardlink to %q: %w", in.Name, in.Linkname, ErrLinkTarget)
		}
		out.Linkname = r.join(trel)
	case tar.TypeChar, tar.TypeBlock:
		out.Devmajor, out.Devminor = in.Devmajor, in.Devminor
	}
	return nil
}

// Skipped reports whether err from Rewrite means "leave the entry out".
func Skipped(err error) bool { return err == errSkip }

// errSkip is returned by Rewrite for entries the rules leave out.
var errSkip = errors.New("skip")
