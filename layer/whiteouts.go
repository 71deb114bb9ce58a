package layer

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/epoch"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// whiteoutSource is a list of deletions or of opaque directories.
type whiteoutSource struct {
	paths  []string // clean, relative, each once
	opaque bool
}

// Deletions is a source of OCI whiteouts: each path (absolute or relative
// to the image root) is deleted from the layers below. Whiteouts are
// written before any other entry of their directory, whatever the order
// of the sources, and a path given twice is deleted once. Their parent
// directories are not emitted, so the lower layers' directory metadata
// (say /tmp's 1777) is kept; on a placed layer, a deletion under a
// symlinked directory of the image (/lib -> usr/lib) deletes the file
// where it is (usr/lib/x).
func Deletions(paths ...string) Source {
	return whiteouts("layer.Deletions", paths, false)
}

// Opaque is a source of OCI opaque-directory markers: each directory keeps
// what this layer puts in it and hides everything the layers below hold
// there. The directory itself is emitted (0755) when no other source of
// the layer places it and the image below does not have it.
func Opaque(dirs ...string) Source {
	return whiteouts("layer.Opaque", dirs, true)
}

func whiteouts(what string, paths []string, opaque bool) Source {
	if len(paths) == 0 {
		return invalid{fmt.Errorf("%w: %s: no paths", ErrInvalidOption, what)}
	}
	s := &whiteoutSource{opaque: opaque}
	seen := map[string]bool{}
	for _, p := range paths {
		c, ok := cleanRel(p)
		if !ok || c == "" {
			return invalid{fmt.Errorf("%w: %s: invalid path %q", ErrInvalidOption, what, p)}
		}
		if strings.HasPrefix(path.Base(c), tarx.WhiteoutPrefix) {
			return invalid{fmt.Errorf("%w: %s: %q is itself a whiteout name", ErrInvalidOption, what, p)}
		}
		if !seen[c] {
			seen[c] = true
			s.paths = append(s.paths, c)
		}
	}
	return s
}

func (s *whiteoutSource) describe() string {
	verb := "delete"
	if s.opaque {
		verb = "opaque"
	}
	return verb + " /" + strings.Join(s.paths, " /")
}

func (s *whiteoutSource) prepare() (*prepared, error) {
	mt, err := epoch.Or(epoch.Default)
	if err != nil {
		return nil, err
	}
	return &prepared{modTime: mt}, nil
}

func (s *whiteoutSource) whiteouts(w *tarx.Writer, p *prepared) error {
	for _, d := range s.paths {
		if err := w.Whiteout(d, s.opaque, p.modTime); err != nil {
			return fmt.Errorf("%s /%s: %w", s.describe(), d, err)
		}
	}
	return nil
}

func (s *whiteoutSource) key(_ context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	k.AddString("whiteouts").AddBool(s.opaque).AddInt(p.modTime.Unix()).AddStrings(s.paths...)
	return true, nil
}

// input: deletions are not inputs.
func (s *whiteoutSource) input(context.Context, *prepared) (Input, bool, error) {
	return Input{}, false, nil
}

// write places nothing: whiteouts are registered before any entry.
func (s *whiteoutSource) write(context.Context, *tarx.Writer, *prepared) error { return nil }
