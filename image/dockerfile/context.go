package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// buildContext is the build context: a host directory (read through
// os.Root, so nothing outside it is opened) or an io/fs tree, minus what
// the .dockerignore excludes. Only what COPY and ADD name is read.
type buildContext struct {
	dir        string // host directory; "" when fsys is set
	root       *os.Root
	fsys       fs.FS
	ignore     []string // .dockerignore patterns, as docker reads them
	ignoreName string   // the file they came from, for errors
	filter     *tarx.Filter
}

// openContext opens the context of o; dockerfile is the Dockerfile's path
// (host or in fsys; "" when its content was given), whose
// NAME.dockerignore takes precedence over the context's .dockerignore.
func openContext(o *options, dockerfile string) (*buildContext, error) {
	c := &buildContext{fsys: o.contextFS}
	if c.fsys == nil {
		c.dir = o.contextDir
		root, err := os.OpenRoot(c.dir)
		if err != nil {
			return nil, fmt.Errorf("opening the build context: %w", err)
		}
		c.root = root
	}
	var candidates []string
	if dockerfile != "" {
		candidates = append(candidates, dockerfile+".dockerignore")
	}
	candidates = append(candidates, "")
	for _, cand := range candidates {
		raw, name, err := c.readIgnore(cand)
		if err != nil {
			c.close()
			return nil, err
		}
		if raw == nil {
			continue
		}
		if err := c.setIgnore(name, raw); err != nil {
			c.close()
			return nil, err
		}
		break
	}
	return c, nil
}

// readIgnore reads the ignore file cand ("" for the context's
// .dockerignore); nil when it does not exist.
func (c *buildContext) readIgnore(cand string) ([]byte, string, error) {
	var raw []byte
	var err error
	name := cand
	switch {
	case cand == "" && c.fsys != nil:
		name = ".dockerignore"
		raw, err = fs.ReadFile(c.fsys, name)
	case cand == "":
		name = filepath.Join(c.dir, ".dockerignore")
		raw, err = c.root.ReadFile(".dockerignore")
	case c.fsys != nil:
		raw, err = fs.ReadFile(c.fsys, cand)
	default:
		raw, err = os.ReadFile(cand)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", name, err)
	}
	if raw == nil {
		raw = []byte{}
	}
	return raw, name, nil
}

// setIgnore compiles the patterns of an ignore file as docker build does.
func (c *buildContext) setIgnore(name string, raw []byte) error {
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "!" {
			return fmt.Errorf("%s, line %d: %w: illegal exclusion pattern: \"!\"", name, i+1, ErrParse)
		}
	}
	pats, err := ignorefile.ReadAll(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	if _, err := patternmatcher.New(pats); err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrParse, err)
	}
	f, err := tarx.NewFilter(nil, pats)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", name, ErrParse, err)
	}
	c.ignore, c.ignoreName, c.filter = pats, name, f
	return nil
}

func (c *buildContext) close() {
	if c.root != nil {
		c.root.Close()
	}
}

// osName is rel as os.Root and fs.FS want it ("." for the root).
func osName(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

func (c *buildContext) lstat(rel string) (fs.FileInfo, error) {
	if c.fsys != nil {
		return fs.Lstat(c.fsys, osName(rel))
	}
	return c.root.Lstat(osName(rel))
}

func (c *buildContext) readlink(rel string) (string, error) {
	if c.fsys != nil {
		return fs.ReadLink(c.fsys, rel)
	}
	return c.root.Readlink(rel)
}

func (c *buildContext) readDir(rel string) ([]fs.DirEntry, error) {
	if c.fsys != nil {
		return fs.ReadDir(c.fsys, osName(rel))
	}
	f, err := c.root.Open(osName(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// open opens a regular file of the context (real path, no symlink).
func (c *buildContext) open(rel string) (fs.File, error) {
	if c.fsys != nil {
		return c.fsys.Open(rel)
	}
	f, err := c.root.Open(rel)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// readFile reads a regular file of the context (real path, no symlink).
func (c *buildContext) readFile(rel string) ([]byte, error) {
	f, err := c.open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// hostPath is the host path of a context path (dir contexts).
func (c *buildContext) hostPath(rel string) string {
	return filepath.Join(c.dir, filepath.FromSlash(rel))
}

// excluded reports whether .dockerignore leaves rel out of the context.
func (c *buildContext) excluded(rel string) bool {
	return rel != "" && c.filter != nil && !c.filter.Keep(rel)
}

// resolve follows the symlinks of rel's components inside the context (an
// absolute target or ".." never leaves it, as BuildKit resolves COPY
// sources) and returns the real relative path and what it is.
func (c *buildContext) resolve(rel string) (string, fs.FileInfo, error) {
	parts := strings.Split(cleanName(rel), "/")
	cur, hops := "", 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := joinRel(cur, p)
		fi, err := c.lstat(next)
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if hops++; hops > 255 {
				return "", nil, fmt.Errorf("%s: too many levels of symbolic links", rel)
			}
			target, err := c.readlink(next)
			if err != nil {
				return "", nil, err
			}
			if path.IsAbs(target) {
				cur = "" // the context's root, not the host's
			}
			parts = append(strings.Split(target, "/"), parts...)
			continue
		}
		if len(parts) > 0 && !fi.IsDir() {
			return "", nil, fmt.Errorf("%s: %s is not a directory", rel, next)
		}
		cur = next
	}
	fi, err := c.lstat(cur)
	return cur, fi, err
}

// containsWildcards reports a glob pattern (an unescaped *, ? or [).
func containsWildcards(name string) bool {
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// glob returns the context paths that pattern matches, as BuildKit's
// COPY resolves wildcards: the components before the first wildcard are
// resolved (symlinks followed), the rest matched with filepath.Match
// against paths below, in lexical order; a matching directory is not
// searched further. Paths .dockerignore excludes are not in the context.
func (c *buildContext) glob(pattern string) ([]string, error) {
	comps := strings.Split(cleanName(pattern), "/")
	i := slices.IndexFunc(comps, containsWildcards)
	if i < 0 {
		return []string{cleanName(pattern)}, nil
	}
	base, rest := strings.Join(comps[:i], "/"), strings.Join(comps[i:], "/")
	depth := len(comps) - i
	real, fi, err := c.resolve(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, nil
	}
	var out []string
	var walk func(dir string, d int) error
	walk = func(dir string, d int) error {
		ents, err := c.readDir(joinRel(real, dir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			rel := joinRel(dir, e.Name())
			full := joinRel(real, rel)
			if c.excluded(full) {
				if e.IsDir() && c.filter.SkipDir(full) {
					continue
				}
				if !e.IsDir() {
					continue
				}
			}
			if ok, _ := filepath.Match(rest, rel); ok && !c.excluded(full) {
				out = append(out, full)
				continue
			}
			if e.IsDir() && d+1 < depth {
				if err := walk(rel, d+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk("", 0)
}
