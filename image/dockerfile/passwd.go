package dockerfile

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// owner is a resolved uid and gid.
type owner struct{ uid, gid int }

// lookupUser finds name in the bytes of an /etc/passwd file
// (name:password:uid:gid:gecos:home:shell) and returns its uid and primary
// gid. Blank, comment and malformed lines are skipped; the first match
// wins, as getpwnam does.
func lookupUser(passwd []byte, name string) (uid, gid int, ok bool) {
	for f := range fields(passwd, 4) {
		if f[0] != name {
			continue
		}
		u, err1 := strconv.Atoi(f[2])
		g, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || u < 0 || g < 0 {
			continue
		}
		return u, g, true
	}
	return 0, 0, false
}

// lookupGroup finds name in the bytes of an /etc/group file
// (name:password:gid:members) and returns its gid.
func lookupGroup(group []byte, name string) (gid int, ok bool) {
	for f := range fields(group, 3) {
		if f[0] != name {
			continue
		}
		g, err := strconv.Atoi(f[2])
		if err != nil || g < 0 {
			continue
		}
		return g, true
	}
	return 0, false
}

// fields yields the colon-separated fields of each line of b that has at
// least min of them.
func fields(b []byte, min int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Split(line, ":")
			if len(f) < min || f[0] == "" {
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

// chownSpec is a parsed --chown (or USER) value: user[:group], each a
// name or a number.
type chownSpec struct {
	user, group string
}

func parseChown(s string) (chownSpec, error) {
	u, g, hasGroup := strings.Cut(s, ":")
	if u == "" || (hasGroup && g == "") || strings.Contains(g, ":") {
		return chownSpec{}, fmt.Errorf("invalid user %q: want user, uid, user:group or uid:gid", s)
	}
	return chownSpec{user: u, group: g}, nil
}

// numeric reports whether s is a decimal id.
func numeric(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == s
}

// needsFiles reports whether resolving c reads /etc/passwd or /etc/group.
func (c chownSpec) needsFiles() (passwd, group bool) {
	_, uNum := numeric(c.user)
	_, gNum := numeric(c.group)
	return !uNum, c.group != "" && !gNum
}

// resolve turns c into ids as BuildKit does: a numeric user alone is
// uid:uid, a user name alone its passwd uid and primary gid; names are
// looked up in passwd and group (the stage's /etc/passwd and /etc/group).
func (c chownSpec) resolve(passwd, group []byte) (owner, error) {
	var o owner
	if n, ok := numeric(c.user); ok {
		o = owner{n, n}
	} else {
		uid, gid, ok := lookupUser(passwd, c.user)
		if !ok {
			return owner{}, fmt.Errorf("%w: unable to find user %s: no matching entries in passwd file", ErrNotFound, c.user)
		}
		o = owner{uid, gid}
	}
	switch n, ok := numeric(c.group); {
	case c.group == "":
	case ok:
		o.gid = n
	default:
		gid, ok := lookupGroup(group, c.group)
		if !ok {
			return owner{}, fmt.Errorf("%w: unable to find group %s: no matching entries in group file", ErrNotFound, c.group)
		}
		o.gid = gid
	}
	return o, nil
}
