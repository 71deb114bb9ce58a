package lazypull

import (
	"fmt"
	"path"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/option"
)

// Option configures Write.
type Option func(*options) error

type options struct {
	prioritized []string
	level       int // 0: the format's default
	tempDir     string
}

// WithPrioritizedFiles puts the named files (and the parent directories
// and hardlink targets they need) first in the layer, in the given order,
// followed by the prefetch landmark, so that a lazy puller fetches them
// before the rest: name the entrypoint and what it reads at start-up.
// The tar's whiteouts (and their parent directories) go before them, so
// that no entry lands before a whiteout of the same layer that would
// delete it when the entries are applied in order.
// Names are paths in the tar, with or without a leading "/" or "./".
// Names the tar does not hold are skipped and listed in
// Result.MissingPrioritized; so is a name one of whose parent directories
// has no entry of its own in the tar. The default is none: the layer starts with
// the no-prefetch landmark and keeps the tar's order.
func WithPrioritizedFiles(names ...string) Option {
	return func(o *options) error {
		for _, n := range names {
			clean := strings.TrimPrefix(path.Clean("/"+n), "/")
			if clean == "" || strings.ContainsRune(n, 0) {
				return fmt.Errorf("%w: WithPrioritizedFiles: invalid file name %q", ErrInvalidOption, n)
			}
			o.prioritized = append(o.prioritized, clean)
		}
		return nil
	}
}

// WithLevel sets the compression level: 1 to 9 for eStargz (gzip), 1 to
// 22 for zstd:chunked (zstd levels, mapped to the nearest level of
// klauspost/compress's encoder). A level out of the format's range is an
// error from Write. The default is 1 for eStargz (as the layer package's
// gzip and go-containerregistry's) and 3 for zstd:chunked.
func WithLevel(level int) Option {
	return func(o *options) error {
		if level < 1 || level > 22 {
			return fmt.Errorf("%w: WithLevel: level %d not in 1..22", ErrInvalidOption, level)
		}
		o.level = level
		return nil
	}
}

// WithTempDir sets the directory where Write spools the uncompressed tar
// (the formats need random access to it). The spool file is unlinked as
// soon as it is created, so nothing is left there even if the process is
// killed. The compressed parts that the estargz library writes before
// joining them (about the blob's size in all) go to os.TempDir()
// whatever this option says: the library takes no directory. Write removes
// them on every path, but not if the process is killed. The default is
// os.TempDir().
func WithTempDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: WithTempDir: empty directory", ErrInvalidOption)
		}
		o.tempDir = dir
		return nil
	}
}

func newOptions(f Format, opts []Option) (options, error) {
	var o options
	if !f.valid() {
		return o, fmt.Errorf("%w: unknown format %v", ErrInvalidOption, f)
	}
	if err := option.Apply(&o, opts); err != nil {
		return o, err
	}
	def, lo, hi := f.levels()
	switch {
	case o.level == 0:
		o.level = def
	case o.level < lo || o.level > hi:
		return o, fmt.Errorf("%w: WithLevel: %v level %d not in %d..%d", ErrInvalidOption, f, o.level, lo, hi)
	}
	return o, nil
}
