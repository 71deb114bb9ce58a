package stopsignal

import (
	"strings"
	"testing"

	"github.com/moby/sys/signal"
	"github.com/stretchr/testify/assert"
)

// TestValidAsMoby: on Linux, Valid accepts exactly what moby's
// signal.ParseSignal (docker's STOPSIGNAL check) accepts.
func TestValidAsMoby(t *testing.T) {
	var cases []string
	for name := range signal.SignalMap {
		cases = append(cases, name, "SIG"+name, strings.ToLower(name), "sig"+strings.ToLower(name))
	}
	cases = append(cases, "0", "1", "9", "64", "99", "-5", "01", "",
		"SIGFOO", "SIGKILLX", "SIGTERM2", "SIGRTMIN+99", "RTMIN+0", "RTMIN+16", "RTMAX-15", "RTMAX-0",
		"RTMIN+01", "SIG", "SIGSIGTERM", " TERM", "TERM ")
	for _, sig := range cases {
		_, err := signal.ParseSignal(sig)
		assert.Equal(t, err == nil, Valid(sig), "Valid(%q); signal.ParseSignal(%q) = %v", sig, sig, err)
	}
}
