package layer

import (
	"context"
	"runtime/debug"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Facts is what a layer's build knows of its inputs and its content: what
// an SBOM and a provenance statement state (see package attest).
type Facts struct {
	// Inputs are the layer's sources, in order (deletions excepted).
	Inputs []Input
	// Binaries are the Go executables the layer holds, found as the
	// layer was written (never by a second read).
	Binaries []Binary
}

// Input is one source of a layer.
type Input struct {
	// Kind is the source's kind: "dir", "fs", "files", "tarball", "url",
	// "file" (HostFile), "url file" (URLFile) or "mkdir" (Dirs).
	Kind string
	// URI is a download's URL (scheme, host and path only: never user
	// info or query); "" for local content, whose host path would make
	// the facts differ between machines.
	URI string
	// Digest is the sha256 of a tarball, download or host file, or the
	// content digest of a directory, fs.FS or in-memory files (the hash of
	// every kept entry's path, type, mode, owner, link target and content,
	// as the layer cache keys them); the zero Hash for "mkdir".
	Digest v1.Hash
	// Destination is where the source lands in the image ("/usr/local").
	Destination string
}

// Binary is a Go executable a layer holds.
type Binary struct {
	// Path is its path in the image ("/usr/local/go/bin/go").
	Path string
	// Info is its build information, as debug/buildinfo reads it.
	Info *debug.BuildInfo
	// Digest is the sha256 of the file.
	Digest v1.Hash
}

// Recorder is implemented by the layers of this package: Facts builds the
// layer if needed and returns what the build knows of it.
type Recorder interface {
	Facts(ctx context.Context) (Facts, error)
}
