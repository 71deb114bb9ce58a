package registrytest

import "errors"

// ErrInvalidOption is wrapped by the error [Start] (and the test failure
// of [New]) reports for a bad option or fault.
var ErrInvalidOption = errors.New("registrytest: invalid option")
