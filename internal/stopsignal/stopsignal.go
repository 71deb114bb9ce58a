package stopsignal

import (
	"strconv"
	"strings"
)

// names are Linux's signals without "SIG", as moby's signal package
// names them on Linux (RTMIN+n and RTMAX-n are checked apart).
var names = map[string]bool{
	"ABRT": true, "ALRM": true, "BUS": true, "CHLD": true, "CLD": true, "CONT": true, "FPE": true,
	"HUP": true, "ILL": true, "INT": true, "IO": true, "IOT": true, "KILL": true, "PIPE": true,
	"POLL": true, "PROF": true, "PWR": true, "QUIT": true, "SEGV": true, "STKFLT": true,
	"STOP": true, "SYS": true, "TERM": true, "TRAP": true, "TSTP": true, "TTIN": true,
	"TTOU": true, "URG": true, "USR1": true, "USR2": true, "VTALRM": true, "WINCH": true,
	"XCPU": true, "XFSZ": true, "RTMIN": true, "RTMAX": true, "UNUSED": true,
}

// Valid reports whether sig is a stop signal docker accepts (what moby's
// signal.ParseSignal accepts on Linux): a non-zero number, or a signal
// name with or without "SIG", in any case, RTMIN+1 to RTMIN+15 and
// RTMAX-14 to RTMAX-1 included.
func Valid(sig string) bool {
	if n, err := strconv.Atoi(sig); err == nil {
		return n != 0
	}
	name := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	if names[name] {
		return true
	}
	for _, rt := range []struct {
		prefix string
		max    int
	}{{"RTMIN+", 15}, {"RTMAX-", 14}} {
		if rest, ok := strings.CutPrefix(name, rt.prefix); ok {
			n, err := strconv.Atoi(rest)
			return err == nil && n >= 1 && n <= rt.max && strconv.Itoa(n) == rest
		}
	}
	return false
}
