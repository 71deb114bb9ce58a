// Package option applies functional options the one way every package of
// the module does: in order, a nil option skipped, the first error
// returned.
package option
