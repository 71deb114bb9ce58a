package dockerfile

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	digest "github.com/opencontainers/go-digest"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/gitfs"
)

// isGitSource reports a git URL as ADD takes it
// (https://host/repo.git#ref:subdir, git@host:repo, ...), parsed by
// BuildKit's own rules.
func isGitSource(src string) bool {
	ref, isGit, err := dfgitutil.ParseGitRef(src)
	return isGit && (err != nil || !ref.IndistinguishableFromLocal)
}

// isHTTPSource reports an http(s) URL that is not a git repository.
func isHTTPSource(src string) bool {
	return (strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")) && !isGitSource(src)
}

func isRemote(src string) bool { return isGitSource(src) || isHTTPSource(src) }

// urlPart plans ADD of a URL: the download saved as a file (not
// extracted, unless --unpack), mode 0600 unless --chmod, named after the
// URL's last path element under a directory destination.
func (s *stageState) urlPart(ctx context.Context, op *copyOp, src string) error {
	u, err := url.Parse(src)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrParse, err)
	}
	name := "__unnamed__"
	if b := path.Base(u.Path); b != "." && b != "/" && b != "" {
		name = b
	}
	sum := ""
	if op.checksum != "" {
		// Parsed as BuildKit parses it; BuildKit then compares it with the
		// sha256 of the download, so another algorithm never matches.
		d, err := digest.Parse(op.checksum)
		if err != nil {
			return fmt.Errorf("%w: checksum %q: %v", ErrParse, op.checksum, err)
		}
		if d.Algorithm() != digest.SHA256 {
			return fmt.Errorf("%w: invalid checksum %q: want sha256:<64 hex digits> (a download is verified by its sha256)", ErrParse, op.checksum)
		}
		sum = d.Encoded()
	}
	if op.unpack != nil && *op.unpack {
		if err := s.parentDirs(ctx, op, op.dest); err != nil {
			return err
		}
		op.parts = append(op.parts, part{kind: partURLTar, url: src, dst: op.dest, sha256: sum, own: op.own, preserveOwner: op.own == nil})
		return nil
	}
	dst, err := s.fileDest(ctx, op, name)
	if err != nil {
		return err
	}
	if err := s.parentDirs(ctx, op, path.Dir(dst)); err != nil {
		return err
	}
	op.parts = append(op.parts, part{kind: partURL, url: src, dst: dst, sha256: sum, own: op.own, chmod: op.chmod})
	return nil
}

// gitPart plans ADD of a git URL: the tree of the ref (or its subdir),
// cloned in memory, into dest.
func (s *stageState) gitPart(ctx context.Context, op *copyOp, src string) error {
	ref, _, err := dfgitutil.ParseGitRef(src)
	if err != nil {
		return fmt.Errorf("%w: git source %q: %v", ErrParse, gitfs.Redact(src), err)
	}
	if (op.keepGitDir != nil && *op.keepGitDir) || (ref.KeepGitDir != nil && *ref.KeepGitDir) {
		return fmt.Errorf("%w: --keep-git-dir: an in-memory clone has no .git directory to keep", ErrParse)
	}
	clone := s.b.o.gitClone
	if clone == nil {
		clone = defaultGitClone
	}
	fsys, commit, err := clone(ctx, ref.Remote, ref.Ref)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", gitfs.Redact(ref.Remote), err)
	}
	want := op.checksum
	if want == "" {
		want = ref.Checksum
	}
	if want != "" && !strings.HasPrefix(commit, want) {
		return fmt.Errorf("%w: checksum mismatch: %s is commit %s, want %s", ErrNotFound, gitfs.Redact(ref.Remote), commit, want)
	}
	if ref.SubDir != "" {
		if fsys, err = fs.Sub(fsys, cleanName(ref.SubDir)); err != nil {
			return fmt.Errorf("%w: subdir %q: %v", ErrNotFound, ref.SubDir, err)
		}
	}
	if err := s.parentDirs(ctx, op, op.dest); err != nil {
		return err
	}
	op.parts = append(op.parts, part{kind: partFSDir, fsys: fsys, dst: op.dest, own: op.own, chmod: op.chmod})
	return nil
}

// defaultGitClone clones into memory with go-git.
func defaultGitClone(ctx context.Context, url, ref string) (fs.FS, string, error) {
	co, err := gitfs.Clone(ctx, url, ref)
	if err != nil {
		return nil, "", err
	}
	return co.FS, co.Commit, nil
}

// isArchive reports whether the context file real is a tar archive, plain
// or compressed (gzip, bzip2, xz, zstd), as docker's ADD decides: by its
// content, its first tar header.
func (s *stageState) isArchive(real string) (bool, error) {
	f, err := s.b.ctxt.open(real)
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	format, err := compress.Detect(br)
	if err != nil {
		return false, nil
	}
	zr, err := compress.NewReader(br, format)
	if err != nil {
		return false, nil
	}
	defer zr.Close()
	_, err = tar.NewReader(zr).Next()
	return err == nil, nil
}

// archivePart plans ADD of a local archive: extracted into dest, owners
// from the archive unless --chown, modes as they are (--chmod does not
// apply to archives).
func (s *stageState) archivePart(ctx context.Context, op *copyOp, real string) error {
	bc := s.b.ctxt
	if err := s.parentDirs(ctx, op, op.dest); err != nil {
		return err
	}
	p := part{kind: partTar, dst: op.dest, own: op.own, preserveOwner: op.own == nil}
	if bc.fsys != nil {
		data, err := bc.readFile(real)
		if err != nil {
			return err
		}
		tmp, sum, err := writeTemp(data)
		if err != nil {
			return err
		}
		op.temps = append(op.temps, tmp)
		p.host, p.sha256 = tmp, sum
	} else {
		p.host = bc.hostPath(real)
	}
	op.parts = append(op.parts, p)
	return nil
}
