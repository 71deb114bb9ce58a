package layer

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The fixtures are made just before they are hashed: remember their
	// hashes all the same (TestRacyClean checks the window).
	racyWindow = 0
	goleak.VerifyTestMain(m,
		// net/http keep-alive connections of httptest clients.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
