package dockerfile

import "errors"

// Sentinel errors. Errors returned by this package wrap them, with the
// Dockerfile's name, line and instruction where one is concerned, so
// callers match them with errors.Is.
var (
	// ErrNeedsRuntime reports an instruction that runs a command in a
	// container (RUN, also as an ONBUILD trigger of a base image): such a
	// Dockerfile needs a container runtime, which this package does not
	// use. It is reported before any work starts.
	ErrNeedsRuntime = errors.New("dockerfile: instruction needs a container runtime")
	// ErrParse reports a Dockerfile that docker build would refuse: bad
	// syntax, an unknown instruction or flag, a bad argument.
	ErrParse = errors.New("dockerfile: invalid Dockerfile")
	// ErrNotFound reports a COPY or ADD source that does not exist (or
	// that .dockerignore excludes), a target stage or a COPY --from stage
	// that the Dockerfile does not define.
	ErrNotFound = errors.New("dockerfile: not found")
	// ErrNoResolver reports a FROM or COPY --from naming an image when no
	// Resolver was given (see WithResolver).
	ErrNoResolver = errors.New("dockerfile: no resolver for image references")
	// ErrInvalidOption reports an invalid option argument.
	ErrInvalidOption = errors.New("dockerfile: invalid option")
)
