package dockerfile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
broken line
bad:x:notanumber:1::/:/bin/false
node:x:1000:1000::/home/node:/bin/bash
node:x:2000:2000:second entry, ignored:/:/bin/false
app:x:1001:50
`

const testGroup = `root:x:0:
staff:x:50:node,app

users:x:100:
node:x:1000:
`

func TestLookupUserGroup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		uid, gid int
		ok       bool
	}{
		{"root", 0, 0, true},
		{"node", 1000, 1000, true},
		{"app", 1001, 50, true},
		{"bad", 0, 0, false},
		{"nobody", 0, 0, false},
		{"broken line", 0, 0, false},
	} {
		uid, gid, ok := lookupUser([]byte(testPasswd), tc.name)
		assert.Equal(t, []any{tc.uid, tc.gid, tc.ok}, []any{uid, gid, ok}, "lookupUser(%q)", tc.name)
	}
	for _, tc := range []struct {
		name string
		gid  int
		ok   bool
	}{
		{"staff", 50, true}, {"node", 1000, true}, {"wheel", 0, false},
	} {
		gid, ok := lookupGroup([]byte(testGroup), tc.name)
		assert.Equal(t, []any{tc.gid, tc.ok}, []any{gid, ok}, "lookupGroup(%q)", tc.name)
	}
}

func TestChownResolve(t *testing.T) {
	for _, tc := range []struct {
		spec             string
		want             owner
		passwd, group    bool // files needed
		wantErr          error
		passwdBytes, grp string
	}{
		{spec: "1000", want: owner{1000, 1000}},
		{spec: "1000:50", want: owner{1000, 50}},
		{spec: "0:0", want: owner{0, 0}},
		{spec: "node", want: owner{1000, 1000}, passwd: true},
		{spec: "app", want: owner{1001, 50}, passwd: true},
		{spec: "node:staff", want: owner{1000, 50}, passwd: true, group: true},
		{spec: "1000:staff", want: owner{1000, 50}, group: true},
		{spec: "app:100", want: owner{1001, 100}, passwd: true},
		{spec: "ghost", passwd: true, wantErr: ErrNotFound},
		{spec: "node:ghosts", passwd: true, group: true, wantErr: ErrNotFound},
		{spec: "node", passwd: true, wantErr: ErrNotFound, passwdBytes: "-"}, // no /etc/passwd
	} {
		c, err := parseChown(tc.spec)
		require.NoError(t, err, "parseChown(%q)", tc.spec)
		p, g := c.needsFiles()
		assert.Equal(t, [2]bool{tc.passwd, tc.group}, [2]bool{p, g}, "parseChown(%q).needsFiles()", tc.spec)
		passwd, group := []byte(testPasswd), []byte(testGroup)
		if tc.passwdBytes == "-" {
			passwd = nil
		}
		got, err := c.resolve(passwd, group)
		if tc.wantErr != nil {
			assert.ErrorIs(t, err, tc.wantErr, "resolve(%q)", tc.spec)
			continue
		}
		require.NoError(t, err, "resolve(%q)", tc.spec)
		assert.Equal(t, tc.want, got, "resolve(%q)", tc.spec)
	}
	for _, bad := range []string{"", ":", "a:", ":b", "a:b:c"} {
		_, err := parseChown(bad)
		assert.Error(t, err, "parseChown(%q)", bad)
	}
}
