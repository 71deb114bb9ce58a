//go:build unix

package layer

// unlinkOpenFiles: an open file can be unlinked and stays readable.
const unlinkOpenFiles = true

// sweepSpools has nothing to do where spool files are unlinked at once.
func sweepSpools(string) {}
