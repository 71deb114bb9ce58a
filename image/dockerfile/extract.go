package dockerfile

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/tarx"
	"github.com/stevedore-dev/stevedore/layer"
)

// fromImage returns the image COPY --from names: an earlier stage (by name
// or number) or an image reference, resolved for the target platform (not
// the stage's FROM --platform), as BuildKit resolves it.
func (s *stageState) fromImage(ctx context.Context, from string) (v1.Image, error) {
	if j := s.b.p.stageIndex(from, s.index); j >= 0 {
		st := s.b.stages[j]
		if st == nil || st.img == nil {
			return nil, fmt.Errorf("%w: stage %q is not built before stage %q", ErrNotFound, from, s.name())
		}
		return st.img, nil
	}
	if err := s.b.p.laterStageErr(from, s.index, s.name()); err != nil {
		return nil, err
	}
	if _, err := fmt.Sscanf(from, "%d", new(int)); err == nil && !strings.ContainsAny(from, ":/@") {
		return nil, fmt.Errorf("%w: invalid stage index %s", ErrNotFound, from)
	}
	return s.b.resolve(ctx, from, s.b.platform)
}

// fromEntry is one entry COPY --from places: its name in the layer and
// what the source image has.
type fromEntry struct {
	dst string
	src string // name in the source image
	n   layer.Node
}

// fromTree is the file tree COPY --from reads.
type fromTree struct {
	*image.Tree
	nodes []layer.Node // every path, sorted
}

// fromParts plans COPY --from: the sources are resolved in the source
// image's file tree (wildcards, symlinks followed), and the entries they
// select are written, in order, to a temp tarball that becomes the part:
// owners and modes as in the source image unless --chown or --chmod.
func (s *stageState) fromParts(ctx context.Context, op *copyOp) error {
	img, err := s.fromImage(ctx, op.from)
	if err != nil {
		return err
	}
	t, err := s.b.loadTree(ctx, img)
	if err != nil {
		return fmt.Errorf("reading --from=%s: %w", op.from, err)
	}
	ft := &fromTree{Tree: t, nodes: slices.Collect(t.All())}
	var entries []fromEntry
	for _, src := range op.sd.SourcePaths {
		es, err := s.fromSource(ctx, op, ft, src)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	if len(entries) == 0 {
		return nil
	}
	tmp, sum, err := writeFromTar(ctx, t, entries)
	if err != nil {
		return fmt.Errorf("copying from %s: %w", op.from, err)
	}
	op.temps = append(op.temps, tmp)
	op.parts = append(op.parts, part{kind: partTar, host: tmp, dst: "/", sha256: sum, own: op.own, preserveOwner: op.own == nil, chmod: op.chmod})
	return nil
}

// fromSource selects the entries of one source of COPY --from.
func (s *stageState) fromSource(ctx context.Context, op *copyOp, ft *fromTree, src string) ([]fromEntry, error) {
	rel := cleanName(src)
	matches := []string{rel}
	if containsWildcards(rel) {
		matches = ft.glob(rel)
	}
	var out []fromEntry
	for _, m := range matches {
		real, n, ok, err := ft.Resolve(m)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q not found in %s", ErrNotFound, "/"+m, op.from)
		}
		if n.Type != tar.TypeDir {
			dst, err := s.fileDest(ctx, op, path.Base(m))
			if err != nil {
				return nil, err
			}
			if err := s.parentDirs(ctx, op, path.Dir(dst)); err != nil {
				return nil, err
			}
			out = append(out, fromEntry{dst: cleanName(dst), src: real, n: n})
			continue
		}
		es, err := ft.under(real, op.excludes)
		if err != nil {
			return nil, err
		}
		// An empty directory places nothing: its destination is made
		// explicitly, as docker's copy does.
		if err := s.makeDirs(ctx, op, op.dest, len(es) == 0); err != nil {
			return nil, err
		}
		for _, e := range es {
			e.dst = joinRel(cleanName(op.dest), e.dst)
			out = append(out, e)
		}
	}
	return out, nil
}

// below returns the nodes below dir ("" for the root), sorted.
func (ft *fromTree) below(dir string) []layer.Node {
	if dir == "" {
		return ft.nodes
	}
	prefix := dir + "/"
	i, _ := slices.BinarySearchFunc(ft.nodes, prefix, func(n layer.Node, p string) int { return strings.Compare(n.Name, p) })
	j := i
	for j < len(ft.nodes) && strings.HasPrefix(ft.nodes[j].Name, prefix) {
		j++
	}
	return ft.nodes[i:j]
}

// under lists what the tree has below dir, named relative to it, minus
// what the exclude patterns (relative to dir) leave out.
func (ft *fromTree) under(dir string, excludes []string) ([]fromEntry, error) {
	f, err := tarx.NewFilter(nil, excludes)
	if err != nil {
		return nil, fmt.Errorf("%w: --exclude: %v", ErrParse, err)
	}
	var out []fromEntry
	for _, n := range ft.below(dir) {
		rel := relTo(dir, n.Name)
		if f.Keep(rel) {
			out = append(out, fromEntry{dst: rel, src: n.Name, n: n})
		}
	}
	return out, nil
}

// relTo is name (below dir) relative to dir.
func relTo(dir, name string) string {
	if dir == "" {
		return name
	}
	return name[len(dir)+1:]
}

// glob matches pattern against the tree as COPY does in a stage: the
// part before the first wildcard resolved, the rest matched component by
// component (filepath.Match), results sorted.
func (ft *fromTree) glob(pattern string) []string {
	comps := strings.Split(pattern, "/")
	i := slices.IndexFunc(comps, containsWildcards)
	base, rest := strings.Join(comps[:i], "/"), strings.Join(comps[i:], "/")
	depth := len(comps) - i
	real, n, ok, err := ft.Resolve(base)
	if err != nil || !ok || n.Type != tar.TypeDir {
		return nil
	}
	var out []string
	for _, n := range ft.below(real) {
		rel := relTo(real, n.Name)
		if strings.Count(rel, "/")+1 != depth {
			continue
		}
		if m, _ := filepath.Match(rest, rel); m {
			out = append(out, n.Name)
		}
	}
	return out
}

// writeFromTar writes entries, sorted by name (the last of equal names
// wins), to a temp tarball and returns its path and sha256. Contents are
// read from the source layers, each layer once; hardlinks are regular
// files with their target's content.
func writeFromTar(ctx context.Context, t *image.Tree, entries []fromEntry) (string, string, error) {
	slices.SortStableFunc(entries, func(a, b fromEntry) int { return strings.Compare(a.dst, b.dst) })
	entries = lastByName(entries)
	// Contents: spooled in layer order, then written in name order.
	spool, err := os.CreateTemp("", "stevedore-from-*.spool")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	var names []string
	seen := map[string]bool{}
	for _, e := range entries {
		switch {
		case e.n.Type == tar.TypeLink:
			return "", "", fmt.Errorf("/%s: hardlink to missing /%s", e.src, e.n.Linkname)
		case e.n.Type == tar.TypeReg && e.n.Size > 0 && !seen[e.src]:
			seen[e.src] = true
			names = append(names, e.src)
		}
	}
	offsets := map[string][2]int64{}
	var off int64
	err = t.ReadFiles(ctx, names, func(name string, r io.Reader) error {
		n, err := io.Copy(spool, r)
		offsets[name] = [2]int64{off, n}
		off += n
		return err
	})
	if err != nil {
		return "", "", err
	}
	return writeSorted(entries, spool, offsets)
}

// lastByName keeps, of entries sorted by name, the last of each name.
func lastByName(es []fromEntry) []fromEntry {
	var out []fromEntry
	for i, e := range es {
		if i+1 < len(es) && es[i+1].dst == e.dst {
			continue
		}
		out = append(out, e)
	}
	return out
}

// writeSorted writes the tar of entries, contents from spool.
func writeSorted(entries []fromEntry, spool *os.File, offsets map[string][2]int64) (string, string, error) {
	f, err := os.CreateTemp("", "stevedore-from-*.tar")
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	err = func() error {
		for _, e := range entries {
			hdr := &tar.Header{Typeflag: e.n.Type, Name: e.dst, Mode: e.n.Mode, Uid: e.n.UID, Gid: e.n.GID}
			var body io.Reader
			switch e.n.Type {
			case tar.TypeReg:
				o := offsets[e.src]
				hdr.Size, body = o[1], io.NewSectionReader(spool, o[0], o[1])
			case tar.TypeDir:
				hdr.Name += "/"
			case tar.TypeSymlink:
				hdr.Linkname = e.n.Linkname
			case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			default:
				continue
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if body != nil {
				if _, err := io.Copy(tw, body); err != nil {
					return err
				}
			}
		}
		return tw.Close()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// writeTemp writes data to a temp file and returns its path and sha256.
func writeTemp(data []byte) (string, string, error) {
	f, err := os.CreateTemp("", "stevedore-add-*")
	if err != nil {
		return "", "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	sum := sha256.Sum256(data)
	return f.Name(), hex.EncodeToString(sum[:]), nil
}

// removeTemps removes the temp files of op (its layer is built by then).
func (op *copyOp) removeTemps() {
	for _, t := range op.temps {
		os.Remove(t)
	}
}
