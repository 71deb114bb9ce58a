package attest

import "errors"

// ErrInvalidFacts is returned (wrapped, with the reason) for facts that
// cannot be stated: a digest that is not sha256, an input without kind or
// digest, a Go executable without build information.
var ErrInvalidFacts = errors.New("attest: invalid facts")

// ErrNotArtifact is returned (wrapped) by [Payload] for an image that is
// not an artifact with one payload layer.
var ErrNotArtifact = errors.New("attest: not an artifact of one payload")
