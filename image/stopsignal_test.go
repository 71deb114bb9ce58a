package image

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// WithStopSignal must refuse names that are no signal: its doc promises a
// signal name, and a runtime fails to stop the container with one it cannot
// parse. `docker build` (BuildKit's STOPSIGNAL, through moby's
// signal.ParseSignal) refuses these, and so does package dockerfile's
// STOPSIGNAL ("invalid signal: SIGFOO").
func TestWithStopSignalRefusesUnknownNames(t *testing.T) {
	for _, sig := range []string{"SIGFOO", "SIGKILLX", "SIGRTMIN+99", "SIGTERM2"} {
		_, err := Build(t.Context(), nil, WithStopSignal(sig))
		assert.ErrorIs(t, err, ErrInvalidOption, "Build(nil, WithStopSignal(%q)) = %v, want an error wrapping ErrInvalidOption", sig, err)
	}
}

// WithStopSignal takes what docker's STOPSIGNAL takes (moby's
// signal.ParseSignal): a name with or without "SIG", in any case, or a
// number; the config records it as written.
func TestWithStopSignalAsDocker(t *testing.T) {
	for _, sig := range []string{"SIGTERM", "TERM", "sigquit", "SIGRTMIN+3", "RTMAX-1", "9"} {
		img, err := Build(t.Context(), nil, WithStopSignal(sig))
		require.NoError(t, err, "Build(nil, WithStopSignal(%q))", sig)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, sig, cf.Config.StopSignal, "Build(nil, WithStopSignal(%q)) StopSignal", sig)
	}
}
