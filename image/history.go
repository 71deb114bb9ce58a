package image

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// WithHistory sets the history entries recorded after the base's, in
// order, instead of those Build writes itself (one per added layer, and
// the entries of [WithConfigHistory]): for example what `docker build`
// records, one entry per instruction with EmptyLayer set on those that add
// no layer. The entries without EmptyLayer must be exactly as many as the
// layers Build adds (the working-directory layer of [WithWorkDir]
// included), else Build fails with an error wrapping [ErrInvalidOption]. A
// zero Created becomes the image's created time (see [WithCreated]).
// Several WithHistory options add up. The default is Build's own entries.
func WithHistory(entries ...v1.History) Option {
	return func(o *options) error {
		if len(entries) == 0 {
			return errOption("WithHistory", "no entries")
		}
		o.history = append(o.history, entries...)
		o.historySet = true
		return nil
	}
}

// ownHistory returns the entries of WithHistory for an image adding
// layers layers (the empty layer an image without layers gets excepted),
// created at created.
func ownHistory(entries []v1.History, layers int, created v1.Time) ([]v1.History, error) {
	out := make([]v1.History, len(entries))
	nonEmpty := 0
	for i, e := range entries {
		if !e.EmptyLayer {
			nonEmpty++
		}
		if e.Created.IsZero() {
			e.Created = created
		}
		out[i] = e
	}
	if nonEmpty != layers {
		return nil, fmt.Errorf("image: WithHistory: %d entries without empty_layer for %d added layers: %w", nonEmpty, layers, ErrInvalidOption)
	}
	return out, nil
}

// WithConfig edits the config file with f, in order among the other config
// edits ([WithEnv], [WithCmd], ...), for what those options do not cover:
// Healthcheck, Shell, OnBuild, ArgsEscaped, the top-level Author, or a
// whole Config computed elsewhere (a Dockerfile's). What Build owns is put
// back after f returns: RootFS, History, Created and the platform (OS,
// Architecture, Variant, OSVersion, OSFeatures). An error from f fails
// Build, wrapped. Its [WithConfigHistory] entry reads "stevedore: config".
// The default is no such edit.
func WithConfig(f func(*v1.ConfigFile) error) Option {
	return func(o *options) error {
		if f == nil {
			return errOption("WithConfig", "function is nil")
		}
		o.edit("stevedore: config", func(s *editState) error {
			keep := s.cf.DeepCopy() // f may change slices in place
			err := f(s.cf)
			s.cf.RootFS, s.cf.History, s.cf.Created = keep.RootFS, keep.History, keep.Created
			s.cf.OS, s.cf.Architecture, s.cf.Variant = keep.OS, keep.Architecture, keep.Variant
			s.cf.OSVersion, s.cf.OSFeatures = keep.OSVersion, keep.OSFeatures
			if err != nil {
				return fmt.Errorf("image: WithConfig: %w", err)
			}
			return nil
		})
		return nil
	}
}
