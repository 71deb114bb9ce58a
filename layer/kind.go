package layer

import (
	"context"
	"fmt"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// kindImpl is a source kind written as its own type, with the three
// methods the kind switches of source.go, sources.go and cached.go stand
// for. HostFile and URLFile are written this way.
type kindImpl interface {
	// describe returns the CreatedBy fragment of s.
	describe(s *source) string
	// key adds to k what determines the bytes of s (after the rules,
	// which cacheKey adds); ok is false when s cannot be keyed without
	// reading it.
	key(ctx context.Context, s *source, k *cache.KeyBuilder, p *prepared) (ok bool, err error)
	// write places the entries of s.
	write(ctx context.Context, s *source, tw *tarx.Writer, p *prepared) error
}

// newOwnSource is newSource for a kind with its own type: ctor names the
// constructor in errors, allowed lists the options it takes.
func newOwnSource(impl kindImpl, ctor, name string, allowed []string, opts []Option) *source {
	s := &source{kind: kindOwn, name: name, impl: impl}
	o, err := applyOptions(opts)
	if err != nil {
		s.err = fmt.Errorf("%s(%q): %w", ctor, name, err)
		return s
	}
	s.opts = o
	if err := o.checkScope(ctor, allowed); err != nil {
		s.err = err
	}
	return s
}
