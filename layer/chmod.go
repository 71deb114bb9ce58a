package layer

import (
	"fmt"
	"strconv"
	"strings"
)

// WithChmod sets the mode of every entry of the source but symlinks, as
// `COPY --chmod` does: an octal mode ("0755", "644", up to "7777",
// setuid, setgid and sticky bits included) replaces each entry's mode; a
// symbolic one in chmod(1) syntax ("u+x", "go-w", "a=rX,u+w", "g=u")
// edits it, with no umask. Parent directories synthesized above the
// entries are not affected. The default is each entry's own mode.
func WithChmod(mode string) SourceOption {
	return func(o *sourceOptions) error {
		m, err := parseModeSpec(mode)
		if err != nil {
			return optErr("WithChmod", "%v", err)
		}
		o.chmod = m
		return nil
	}
}

// modeSpec is a parsed WithChmod argument.
type modeSpec struct {
	spec    string
	octal   int64 // when isOctal
	isOctal bool
	clauses []modeClause
}

// modeClause is one comma-separated part of a symbolic mode: the classes
// it applies to and its operations in order.
type modeClause struct {
	who string // some of "ugo"
	ops []modeOp
}

type modeOp struct {
	op    byte   // '+', '-' or '='
	perms string // some of "rwxXst", or one of "u", "g", "o" (copy)
}

func parseModeSpec(s string) (*modeSpec, error) {
	if s == "" {
		return nil, fmt.Errorf("empty mode")
	}
	if s[0] >= '0' && s[0] <= '9' {
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil || n > 0o7777 {
			return nil, fmt.Errorf("mode %q: want an octal number from 0 to 7777, or a symbolic mode such as u+x", s)
		}
		return &modeSpec{spec: s, octal: int64(n), isOctal: true}, nil
	}
	m := &modeSpec{spec: s}
	for _, part := range strings.Split(s, ",") {
		c, err := parseClause(part)
		if err != nil {
			return nil, fmt.Errorf("mode %q: %w", s, err)
		}
		m.clauses = append(m.clauses, c)
	}
	return m, nil
}

func parseClause(part string) (modeClause, error) {
	var c modeClause
	i := 0
	for ; i < len(part) && strings.IndexByte("ugoa", part[i]) >= 0; i++ {
		if part[i] == 'a' {
			c.who += "ugo"
		} else {
			c.who += part[i : i+1]
		}
	}
	if c.who == "" {
		c.who = "ugo" // no umask: as "a"
	}
	if i == len(part) {
		return c, fmt.Errorf("clause %q has no operator (+, - or =)", part)
	}
	for i < len(part) {
		op := part[i]
		if op != '+' && op != '-' && op != '=' {
			return c, fmt.Errorf("clause %q: unexpected %q", part, op)
		}
		i++
		j := i
		for j < len(part) && strings.IndexByte("+-=", part[j]) < 0 {
			j++
		}
		perms := part[i:j]
		switch {
		case perms == "u" || perms == "g" || perms == "o":
		case strings.Trim(perms, "rwxXst") != "":
			return c, fmt.Errorf("clause %q: permissions %q are not some of rwxXst or one of u, g, o", part, perms)
		}
		c.ops = append(c.ops, modeOp{op: op, perms: perms})
		i = j
	}
	return c, nil
}

// classShift is the bit position of each class's rwx triple.
var classShift = map[byte]uint{'u': 6, 'g': 3, 'o': 0}

// apply returns mode (tar permission bits, 0o7777) changed by m.
func (m *modeSpec) apply(mode int64, dir bool) int64 {
	if m.isOctal {
		return m.octal
	}
	for _, c := range m.clauses {
		for _, op := range c.ops {
			mode = op.apply(mode, c.who, dir)
		}
	}
	return mode & 0o7777
}

func (op modeOp) apply(mode int64, who string, dir bool) int64 {
	var bits, mask int64
	for i := 0; i < len(who); i++ {
		sh := classShift[who[i]]
		mask |= 0o7 << sh
		switch who[i] {
		case 'u':
			mask |= 0o4000
		case 'g':
			mask |= 0o2000
		case 'o':
			mask |= 0o1000
		}
		bits |= op.bitsFor(mode, who[i], dir)
	}
	switch op.op {
	case '+':
		return mode | bits
	case '-':
		return mode &^ bits
	}
	return mode&^mask | bits
}

// bitsFor returns the bits op names for the class cls.
func (op modeOp) bitsFor(mode int64, cls byte, dir bool) int64 {
	sh := classShift[cls]
	if len(op.perms) == 1 && strings.IndexByte("ugo", op.perms[0]) >= 0 {
		return (mode >> classShift[op.perms[0]] & 0o7) << sh
	}
	var b int64
	for i := 0; i < len(op.perms); i++ {
		switch op.perms[i] {
		case 'r':
			b |= 0o4 << sh
		case 'w':
			b |= 0o2 << sh
		case 'x':
			b |= 0o1 << sh
		case 'X':
			if dir || mode&0o111 != 0 {
				b |= 0o1 << sh
			}
		case 's':
			if cls == 'u' {
				b |= 0o4000
			} else if cls == 'g' {
				b |= 0o2000
			}
		case 't':
			if cls == 'o' {
				b |= 0o1000
			}
		}
	}
	return b
}
