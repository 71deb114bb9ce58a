package tarx

import (
	"archive/tar"
	"fmt"
)

// Plan is what a first pass over a layer's entries learned: how many
// entries each name has and what the last one leaves there, and the
// whiteouts met among the entries. With it a second pass writes each
// name once, in the place of its first entry for directories (with the
// last entry's header) and of its last entry for anything else, and
// writes every whiteout before the other entries of its directory.
type Plan struct {
	sim       map[string]*simNode
	whiteouts []whiteout
}

// Plan returns the plan learned by this writer; Stale reports that it
// must be learned again by a collecting pass (see Options.Collect).
func (w *Writer) Plan() *Plan { return &Plan{sim: w.sim, whiteouts: w.streamW} }

// Stale reports that a whiteout came after entries it may have changed:
// the plan must be learned again, by a pass with Options.Collect and
// Options.Plan set to Plan(), before the writing pass.
func (w *Writer) Stale() bool { return w.stale }

// placePlanned writes e in the second pass, if it is the entry that
// wins for name.
func (w *Writer) placePlanned(e Entry, name string, occ int) error {
	p := w.opts.Plan
	final := p.sim[name]
	if final == nil || final.count < occ {
		return fmt.Errorf("entry %q: %w", e.Source, ErrChanged)
	}
	gone := false
	ancestors(name, func(a string) error {
		if s := p.sim[a]; s != nil && s.kind != kindDir {
			gone = true // a later entry replaces a parent: extraction removes this one
			return errStop
		}
		return nil
	})
	h := e.Header
	switch {
	case gone:
		return nil
	case final.kind == kindDir:
		if h.Typeflag != tar.TypeDir {
			return nil
		}
		if o := w.out[name]; o != nil && o.kind == kindDir && !o.below {
			return nil // written already, as a parent, with the final header
		}
		return w.write(e, name, final.dir)
	case occ != final.count:
		return nil // a later entry replaces this one
	case h.Typeflag == tar.TypeLink:
		if o := w.out[h.Linkname]; o == nil || o.kind != kindFile {
			return fmt.Errorf("entry %q: hardlink to %q, which a later entry of the layer replaces: %w", e.Source, h.Linkname, ErrLinkTarget)
		}
	}
	return w.write(e, name, nil)
}

// checkPlan verifies at Close that the second pass met the entries of
// the first.
func (w *Writer) checkPlan() error {
	p := w.opts.Plan
	if p == nil || w.collecting {
		return nil
	}
	for name, s := range p.sim {
		if s.count == 0 {
			continue
		}
		if t := w.sim[name]; t == nil || t.count != s.count {
			return fmt.Errorf("entry %q: %w", name, ErrChanged)
		}
	}
	return nil
}
