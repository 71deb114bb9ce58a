package attest

import "errors"

// ErrInvalidFacts is returned (wrapped, with the reason) for facts that
// cannot be stated: a digest that is not sha256, an input without kind or
// digest, a Go executable without build information.
var ErrInvalidFacts = errors.New("attest: invalid facts")
