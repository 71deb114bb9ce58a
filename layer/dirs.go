package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// dirsSource is a list of directories made if missing.
type dirsSource struct {
	sourceBase
	paths []string
}

// Dirs is a source of directories made if missing, as `mkdir -p` or a
// Dockerfile's WORKDIR make them: each directory (and each parent it
// needs) is written as a 0755 directory unless the layer or the image
// below already has it, which is then left as it is (a base's 1777
// /tmp/work stays 1777). WithOwner and WithModTime apply to the
// directories named; WithRoot places them under a directory.
func Dirs(paths []string, opts ...SourceOption) Source {
	t, err := newSourceBase(kindFiles, "layer.Dirs", opts)
	if err != nil {
		return invalid{err}
	}
	if paths, err = cleanNames("layer.Dirs", "path", paths); err != nil {
		return invalid{err}
	}
	return &dirsSource{sourceBase: t, paths: paths}
}

func (s *dirsSource) describe() string {
	return "mkdir /" + strings.Join(s.paths, " /") + " -> " + s.root()
}

func (s *dirsSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	for _, d := range s.paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		h := &tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755}
		if _, err := place(w, p, tarx.Entry{Header: h, Source: d, Weak: true}); err != nil {
			return fmt.Errorf("mkdir /%s: %w", d, err)
		}
	}
	return nil
}

func (s *dirsSource) input(context.Context, *prepared) (Input, bool, error) {
	return Input{Kind: "mkdir", Destination: "/" + strings.Join(s.paths, " /")}, true, nil
}

func (s *dirsSource) key(_ context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	keyRules(k, "dirs", p)
	k.AddStrings(s.paths...)
	return true, nil
}
