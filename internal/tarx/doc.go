// Package tarx is the tar engine of package layer: it normalizes and
// rewrites tar headers (strip, filter, root), checks every placed name
// against the layer root and the symlinks and files placed before it, emits
// missing parent directories, and writes reproducible headers.
package tarx
