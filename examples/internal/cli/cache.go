package cli

import (
	"fmt"

	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
)

// DefaultCacheLimit bounds the examples' local layer caches (see
// layer.WithCacheLimit): least recently used layers go first.
const DefaultCacheLimit = 10 << 30

// Caches are the layer caches of -cache and -cache-repo.
type Caches struct {
	// Options make a layer use them: layer.WithCache (bounded to
	// DefaultCacheLimit), layer.WithRemoteCache, and
	// layer.WithCacheEvents reporting to the Logger (see CacheEvent).
	Options []layer.Option
	// Remote is the cache of -cache-repo (registry.NewLayerCache, with
	// the docker config's credentials), nil without it.
	Remote *registry.LayerCache
}

// newCaches returns the caches of the -cache DIR and -cache-repo REPO
// flags; either may be empty.
func newCaches(dir, repo string, log Logger) (*Caches, error) {
	c := &Caches{Options: []layer.Option{layer.WithCacheEvents(log.CacheEvent)}}
	if dir != "" {
		c.Options = append(c.Options, layer.WithCache(dir), layer.WithCacheLimit(DefaultCacheLimit))
	}
	if repo != "" {
		rc, err := registry.NewLayerCache(repo)
		if err != nil {
			return nil, fmt.Errorf("-cache-repo: %w", err)
		}
		c.Remote = rc
		c.Options = append(c.Options, layer.WithRemoteCache(rc))
	}
	return c, nil
}

// CacheEvent prints what the layer caches did (with -v), and remote
// cache failures, which do not fail the build, always.
func (l Logger) CacheEvent(e layer.CacheEvent) {
	if e.Kind == layer.RemoteFailed {
		fmt.Fprintf(l.W, "warning: %s\n", e)
		return
	}
	l.Printf("%s", e)
}
