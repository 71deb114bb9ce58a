package dockerfile

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// copyArgs is a COPY or ADD, flags expanded.
type copyArgs struct {
	cmd        instructions.Command
	sd         instructions.SourcesAndDest
	add        bool
	from       string
	chown      string
	chmod      string
	link       bool
	parents    bool
	excludes   []string
	checksum   string
	keepGitDir *bool
	unpack     *bool
}

// copyOp is what the parts of one COPY or ADD share.
type copyOp struct {
	copyArgs
	dest    string // absolute, clean
	destDir bool   // dest names a directory: it ends with "/" (or "/.")
	own     *owner
	parts   []part
	temps   []string // temp files to remove once the layer is built
}

// destPath makes a COPY destination absolute against the working
// directory, keeping a trailing slash's meaning, as BuildKit does.
func destPath(workdir, dest string) (string, bool) {
	if dest == "" || dest == "." {
		dest = "./"
	}
	isDir := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.")
	abs := dest
	if !path.IsAbs(dest) {
		abs = path.Join("/", workdir, dest)
	}
	abs = path.Clean(abs)
	return abs, isDir || abs == "/"
}

// chmodErr checks a --chmod value as BuildKit does: octal up to 7777, or
// symbolic (checked when the layer is made).
func chmodErr(chmod string) error {
	if chmod == "" || chmod[0] < '0' || chmod[0] > '9' {
		return nil
	}
	n, err := strconv.ParseUint(chmod, 8, 32)
	if err != nil || n > 0o7777 {
		return fmt.Errorf("%w: invalid chmod parameter: '%v'. it should be octal string and between 0 and 07777", ErrParse, chmod)
	}
	return nil
}

// dispatchCopy runs a COPY or ADD: one layer holding every source.
func (s *stageState) dispatchCopy(ctx context.Context, a copyArgs) error {
	op := &copyOp{copyArgs: a}
	defer op.removeTemps()
	op.dest, op.destDir = destPath(s.cfg.Config.WorkingDir, a.sd.DestPath)
	if err := chmodErr(a.chmod); err != nil {
		return err
	}
	if a.checksum != "" {
		if !a.add {
			return fmt.Errorf("%w: checksum can't be specified for COPY", ErrParse)
		}
		if len(a.sd.SourcePaths) != 1 || !isRemote(a.sd.SourcePaths[0]) {
			return fmt.Errorf("%w: checksum requires a single HTTP(S) or Git source", ErrParse)
		}
	}
	if a.chown != "" {
		o, err := s.resolveOwner(ctx, a.chown)
		if err != nil {
			return err
		}
		op.own = &o
	}
	if err := s.copySources(ctx, op); err != nil {
		return err
	}
	l, err := s.b.newLayer(ctx, lastFiles(op.parts))
	if err != nil {
		return err
	}
	s.record(copyHistory(a), true)
	return s.commitLayer(ctx, l)
}

// copySources plans the parts of every source of op.
func (s *stageState) copySources(ctx context.Context, op *copyOp) error {
	if op.from != "" {
		if err := s.fromParts(ctx, op); err != nil {
			return err
		}
	} else {
		for _, src := range op.sd.SourcePaths {
			var err error
			switch {
			case op.add && isGitSource(src):
				err = s.gitPart(ctx, op, src)
			case isHTTPSource(src):
				if !op.add {
					return fmt.Errorf("%w: source can't be a URL for COPY", ErrParse)
				}
				err = s.urlPart(ctx, op, src)
			case op.parents:
				err = s.parentsParts(ctx, op, src)
			default:
				err = s.contextParts(ctx, op, src)
			}
			if err != nil {
				return err
			}
		}
	}
	for _, h := range op.sd.SourceContents {
		dst, err := s.fileDest(ctx, op, path.Base(cleanName(h.Path)))
		if err != nil {
			return err
		}
		if err := s.parentDirs(ctx, op, path.Dir(dst)); err != nil {
			return err
		}
		op.parts = append(op.parts, part{kind: partBytes, data: []byte(h.Data), mode: 0o644, dst: dst, own: op.own, chmod: op.chmod})
	}
	return nil
}

// lastFiles drops the single-file parts that a later part places at the
// same path: the copy that comes last wins, as docker's copies in turn,
// and a layer holds each path once.
func lastFiles(parts []part) []part {
	last := map[string]int{}
	for i, p := range parts {
		if p.kind == partFile || p.kind == partBytes || p.kind == partURL {
			last[p.dst] = i
		}
	}
	out := parts[:0:0]
	for i, p := range parts {
		if j, ok := last[p.dst]; ok && j != i && (p.kind == partFile || p.kind == partBytes || p.kind == partURL) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// copyHistory is BuildKit's created_by text of a COPY or ADD.
func copyHistory(a copyArgs) string {
	msg := "COPY"
	if a.add {
		msg = "ADD"
	}
	if a.parents {
		msg += " --parents"
	}
	if a.chown != "" {
		msg += " --chown=" + a.chown
	}
	if a.chmod != "" {
		msg += " --chmod=" + a.chmod
	}
	for _, src := range a.sd.SourcePaths {
		msg += " " + src
	}
	for _, h := range a.sd.SourceContents {
		msg += " <<" + h.Path
	}
	return msg + " " + a.sd.DestPath + " # buildkit"
}

// fileDest is where a single file named base lands: under dest when dest
// is a directory (a trailing slash, or a directory the stage already has,
// symlinks followed), else at dest. Several files to a destination
// without a slash all land at dest, the last one winning, as with docker
// build (BuildKit copies them one after the other); docker's reference
// asks for the slash.
func (s *stageState) fileDest(ctx context.Context, op *copyOp, base string) (string, error) {
	if op.destDir {
		return path.Join(op.dest, base), nil
	}
	if s.img != nil {
		t, err := s.tree(ctx)
		if err != nil {
			return "", err
		}
		_, n, ok, err := t.Resolve(op.dest)
		if err != nil {
			return "", err
		}
		if ok && n.Type == tar.TypeDir {
			return path.Join(op.dest, base), nil
		}
	}
	return op.dest, nil
}

// parentDirs adds, when --chown or --chmod is given, the directories up
// to dir that the stage lacks, created with that owner and mode as
// BuildKit's mkdir -p does (without those flags, the layer's own 0755
// root-owned parents are the same).
func (s *stageState) parentDirs(ctx context.Context, op *copyOp, dir string) error {
	return s.makeDirs(ctx, op, dir, false)
}

// makeDirs is parentDirs; with force, missing directories are added even
// without --chown or --chmod (an empty source directory places nothing
// that would make the layer emit them).
func (s *stageState) makeDirs(ctx context.Context, op *copyOp, dir string, force bool) error {
	if op.own == nil && op.chmod == "" && !force {
		return nil
	}
	missing, err := s.missingDirs(ctx, dir)
	if err != nil {
		return err
	}
	if len(missing) == 0 {
		return nil
	}
	mode := fs.FileMode(0o755)
	if n, err := strconv.ParseUint(op.chmod, 8, 32); err == nil {
		mode = fs.FileMode(n) &^ 0o022 // mkdir under docker's umask
	}
	op.parts = append(op.parts, part{kind: partDirs, names: missing, mode: mode, own: op.own})
	return nil
}

// contextParts plans a source from the build context: a file, a
// directory (its contents), or a wildcard's matches.
func (s *stageState) contextParts(ctx context.Context, op *copyOp, src string) error {
	bc := s.b.ctxt
	rel := cleanName(src)
	matches := []string{rel}
	if containsWildcards(rel) {
		var err error
		if matches, err = bc.glob(rel); err != nil {
			return fmt.Errorf("resolving %s in the build context: %w", src, err)
		}
	}
	for _, m := range matches {
		real, fi, err := bc.resolve(m)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && (bc.excluded(real) || bc.excluded(m))) {
			return s.notFound(src, err == nil)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := s.contextPart(ctx, op, m, real, fi); err != nil {
			return err
		}
	}
	return nil
}

func (s *stageState) notFound(src string, ignored bool) error {
	why := "not found in the build context"
	if ignored {
		why = "excluded from the build context by " + s.b.ctxt.ignoreName
	}
	return fmt.Errorf("%w: %q: %s", ErrNotFound, "/"+cleanName(src), why)
}

// contextPart plans one resolved context path m (real after symlinks).
func (s *stageState) contextPart(ctx context.Context, op *copyOp, m, real string, fi fs.FileInfo) error {
	bc := s.b.ctxt
	switch {
	case fi.IsDir():
		// An empty directory places nothing: its destination is made
		// explicitly, as docker's copy does.
		ents, err := bc.readDir(real)
		if err != nil {
			return err
		}
		if err := s.makeDirs(ctx, op, op.dest, len(ents) == 0); err != nil {
			return err
		}
		return s.dirPart(op, real, nil)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q: cannot copy %v", "/"+m, fi.Mode().Type())
	}
	if op.add && (op.unpack == nil || *op.unpack) {
		ok, err := s.isArchive(real)
		if err != nil {
			return err
		}
		if ok {
			return s.archivePart(ctx, op, real)
		}
	}
	dst, err := s.fileDest(ctx, op, path.Base(m))
	if err != nil {
		return err
	}
	if err := s.parentDirs(ctx, op, path.Dir(dst)); err != nil {
		return err
	}
	if bc.fsys != nil {
		data, err := bc.readFile(real)
		if err != nil {
			return err
		}
		op.parts = append(op.parts, part{kind: partBytes, data: data, mode: fi.Mode(), dst: dst, own: op.own, chmod: op.chmod})
		return nil
	}
	op.parts = append(op.parts, part{kind: partFile, host: bc.hostPath(real), dst: dst, own: op.own, chmod: op.chmod})
	return nil
}

// parentsParts plans COPY --parents: the source path (below a "/./"
// pivot, if any) is kept under dest.
func (s *stageState) parentsParts(ctx context.Context, op *copyOp, src string) error {
	bc := s.b.ctxt
	dir, pattern, ok := strings.Cut(src, "/./")
	if !ok {
		dir, pattern = "", src
	}
	dir, pattern = cleanName(dir), cleanName(pattern)
	real, fi, err := bc.resolve(dir)
	if err != nil || !fi.IsDir() {
		return s.notFound(dir, false)
	}
	if !containsWildcards(pattern) {
		if _, _, err := bc.resolve(joinRel(real, pattern)); err != nil || bc.excluded(joinRel(real, pattern)) {
			return s.notFound(src, err == nil)
		}
	}
	if err := s.parentDirs(ctx, op, op.dest); err != nil {
		return err
	}
	return s.dirPart(op, real, prefixPatterns(real, []string{pattern}))
}

// dirPart adds the contents of the context directory real under dest,
// filtered by .dockerignore, --exclude and includes (context-relative).
func (s *stageState) dirPart(op *copyOp, real string, includes []string) error {
	bc := s.b.ctxt
	p := part{kind: partDir, dst: op.dest, matchPrefix: real, own: op.own, chmod: op.chmod, includes: includes,
		excludes: append(append([]string(nil), bc.ignore...), prefixPatterns(real, op.excludes)...)}
	if bc.fsys != nil {
		sub, err := subFS(bc.fsys, real)
		if err != nil {
			return err
		}
		p.kind, p.fsys = partFSDir, sub
	} else {
		p.host = bc.hostPath(real)
	}
	op.parts = append(op.parts, p)
	return nil
}

// prefixPatterns makes patterns written relative to dir relative to the
// context (dir's special characters escaped).
func prefixPatterns(dir string, patterns []string) []string {
	if dir == "" {
		return append([]string(nil), patterns...)
	}
	var esc strings.Builder
	for _, r := range dir {
		if strings.ContainsRune(`*?[]\`, r) {
			esc.WriteByte('\\')
		}
		esc.WriteRune(r)
	}
	out := make([]string, 0, len(patterns))
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		q := esc.String() + "/" + p
		if neg {
			q = "!" + q
		}
		out = append(out, q)
	}
	return out
}

// subFS is fsys below dir.
func subFS(fsys fs.FS, dir string) (fs.FS, error) {
	if dir == "" {
		return fsys, nil
	}
	return fs.Sub(fsys, dir)
}
