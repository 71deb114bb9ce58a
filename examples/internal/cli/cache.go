package cli

import (
	"flag"
	"fmt"

	"github.com/stevedore-dev/stevedore/layer"
)

// DefaultCacheLimit bounds the examples' local layer caches (see
// layer.WithCacheLimit): least recently used layers go first.
const DefaultCacheLimit = 10 << 30

// CacheRepoFlag registers -cache-repo, the repository of a layer cache
// shared by every machine that builds the same image, in *repo.
func CacheRepoFlag(fs *flag.FlagSet, repo *string) {
	fs.StringVar(repo, "cache-repo", "", "share built layers through the OCI repository `REPO` (for example registry.example.com/team/cache): a layer another machine built from the same inputs is neither rebuilt nor uploaded; credentials as for -target")
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
