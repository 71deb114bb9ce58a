package dockerfile

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyContext is the context of the COPY table: BuildKit's integration
// tests' trees (testCopyWildcards, testCopySymlinks, testCopyRelative,
// testCopyThroughSymlinkContext, testCopyFollowAllSymlinks) and a few of
// ours.
var copyContext = map[string]string{
	"foo":                "hello",
	"foo.go":             "foo-contents",
	"bar.go":             "bar-contents",
	"sub/dir1/dir2/foo":  "foo-contents",
	"sub/lfile":          "lfile-contents",
	"sub/l0":             "-> subfile",
	"sub/subfile":        "subfile-contents",
	"sub/l1":             "-> second",
	"sub/second":         "-> baz",
	"sub/baz":            "baz-contents",
	"link":               "-> sub",
	"flink":              "-> foo.go",
	"dirlink/sub":        "-> ../foo",
	"abs":                "-> /etc/passwd",
	"app/bin/server":     "#!/bin/sh\necho server\n",
	"app/README.md":      "# app",
	"app/conf/a.yaml":    "a: 1",
	"app/conf/b.md":      "b",
	"app/inner":          "-> conf/a.yaml",
	"empty/":             "",
	"secret.txt":         "s3cret",
	"logs/x.log":         "log",
	"logs/keep.log":      "keep",
	"src/app/main.go":    "package main",
	"src/app/util.go":    "package main // util",
	"src/lib/x.go":       "package lib",
	".dockerignore":      "secret.txt\nlogs/*.log\n!logs/keep.log\n",
	"only.Dockerfile":    "FROM scratch\n",
	"weird[1]/f":         "bracket",
	"space dir/a b.txt":  "spaces",
	"deep/a/b/c/d/e.txt": "deep",
}

// TestCopyEdgeCases is Docker's COPY rules, one row each: what the image
// holds at the paths given (type mode uid:gid [-> link] ["content"]).
// "why" says which rule the row is about.
func TestCopyEdgeCases(t *testing.T) {
	dir := newContext(t, copyContext)
	base := debianish(t, "linux/amd64")
	for _, tc := range []struct {
		name, why  string
		dockerfile string // after "FROM base\n"
		paths      []string
		want       string
	}{
		{"file renamed", "a destination without a slash that does not exist is the file's name",
			"COPY foo /foo2", []string{"foo2"}, "foo2: 0 644 0:0 \"hello\"\n"},
		{"file into root", "a destination ending in / is a directory",
			"COPY foo /", []string{"foo"}, "foo: 0 644 0:0 \"hello\"\n"},
		{"file into an existing directory", "a destination that is a directory in the image takes the file inside, slash or not",
			"COPY foo /usr/local/bin", []string{"usr/local/bin"}, "usr/local/bin: 5 755 0:0\nusr/local/bin/foo: 0 644 0:0 \"hello\"\n"},
		{"directory: its contents", "a directory source copies its contents, not itself",
			"COPY sub/dir1 /subdest6", []string{"subdest6"}, "subdest6: 5 755 0:0\nsubdest6/dir2: 5 755 0:0\nsubdest6/dir2/foo: 0 644 0:0 \"foo-contents\"\n"},
		{"directory with trailing slash", "sub/dir1/ is the same",
			"COPY sub/dir1/ subdest4", []string{"subdest4"}, "subdest4: 5 755 0:0\nsubdest4/dir2: 5 755 0:0\nsubdest4/dir2/foo: 0 644 0:0 \"foo-contents\"\n"},
		{"directory with /.", "sub/dir1/. is the same",
			"COPY sub/dir1/. subdest5", []string{"subdest5"}, "subdest5: 5 755 0:0\nsubdest5/dir2: 5 755 0:0\nsubdest5/dir2/foo: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard into a directory", "*.go matches files of the context root",
			"COPY *.go /gofiles/", []string{"gofiles"}, "gofiles: 5 755 0:0\ngofiles/bar.go: 0 644 0:0 \"bar-contents\"\ngofiles/foo.go: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard with one match renames", "one match and no slash: the file's name",
			"COPY f*.go foo2.go", []string{"foo2.go"}, "foo2.go: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard matching a directory copies its contents", "sub/* matches dir1 (and the files): each match as if named",
			"COPY sub/* /subdest/", []string{"subdest/dir2", "subdest/lfile", "subdest/l0"},
			"subdest/dir2: 5 755 0:0\nsubdest/dir2/foo: 0 644 0:0 \"foo-contents\"\nsubdest/l0: 0 644 0:0 \"subfile-contents\"\nsubdest/lfile: 0 644 0:0 \"lfile-contents\"\n"},
		{"wildcard in a middle component", "sub/*/dir2/foo",
			"COPY sub/*/dir2/foo /subdest2/", []string{"subdest2"}, "subdest2: 5 755 0:0\nsubdest2/foo: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard in a middle component, renamed", "one match, no slash",
			"COPY sub/*/dir2/foo /subdest3/bar", []string{"subdest3"}, "subdest3: 5 755 0:0\nsubdest3/bar: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard matching nothing", "BuildKit allows an empty wildcard: nothing is copied, no error",
			"COPY *.nomatch /none/", []string{"none"}, ""},
		{"escaped wildcard characters", "a literal [ needs no escaping when it matches nothing as a glob",
			"COPY weird[[]1]/f /w", []string{"w"}, "w: 0 644 0:0 \"bracket\"\n"},
		{"spaces (JSON form)", "JSON form keeps spaces",
			`COPY ["space dir/a b.txt", "/with space/"]`, []string{"with space"}, "with space: 5 755 0:0\nwith space/a b.txt: 0 644 0:0 \"spaces\"\n"},
		{"the whole context", "COPY . copies everything the .dockerignore keeps",
			"COPY . /all/", []string{"all/secret.txt", "all/logs", "all/.dockerignore"},
			"all/.dockerignore: 0 644 0:0 \"secret.txt\\nlogs/*.log\\n!logs/keep.log\\n\"\nall/logs: 5 755 0:0\nall/logs/keep.log: 0 644 0:0 \"keep\"\n"},
		{"relative destinations follow WORKDIR", "./, ./bar/baz, ../ against the working directory",
			"WORKDIR /test1/test2\nCOPY foo ./\nADD foo ./bar/baz\nWORKDIR ..\nCOPY foo ./\nWORKDIR /test5/test6\nCOPY foo ../",
			[]string{"test1/test2/foo", "test1/test2/bar/baz", "test1/foo", "test5/foo"},
			"test1/foo: 0 644 0:0 \"hello\"\ntest1/test2/bar/baz: 0 644 0:0 \"hello\"\ntest1/test2/foo: 0 644 0:0 \"hello\"\ntest5/foo: 0 644 0:0 \"hello\"\n"},
		{"dot destination is the working directory", "COPY x . with WORKDIR",
			"WORKDIR /var/www\nCOPY foo .", []string{"var/www/foo"}, "var/www/foo: 0 644 0:0 \"hello\"\n"},
		{"empty destination variable", "an empty destination is the working directory (testCopyLinkEmptyDestDir)",
			"WORKDIR /var/www\nENV empty=\"\"\nCOPY --link foo $empty", []string{"var/www/foo"}, "var/www/foo: 0 644 0:0 \"hello\"\n"},
		{"a source through a symlinked directory", "link -> sub: link/lfile is sub/lfile",
			"COPY link/lfile /", []string{"lfile"}, "lfile: 0 644 0:0 \"lfile-contents\"\n"},
		{"a symlink source is followed", "flink -> foo.go copies foo.go's content, named flink",
			"COPY flink /", []string{"flink"}, "flink: 0 644 0:0 \"foo-contents\"\n"},
		{"wildcard matches are followed, chains too", "sub/l* (testCopySymlinks): l0 -> subfile, l1 -> second -> baz",
			"COPY sub/l* /alllinks/", []string{"alllinks"},
			"alllinks: 5 755 0:0\nalllinks/l0: 0 644 0:0 \"subfile-contents\"\nalllinks/l1: 0 644 0:0 \"baz-contents\"\nalllinks/lfile: 0 644 0:0 \"lfile-contents\"\n"},
		{"a symlink to ../ inside the context", "dirlink/sub -> ../foo (testCopyFollowAllSymlinks)",
			"COPY dirlink/sub /bar", []string{"bar"}, "bar: 0 644 0:0 \"hello\"\n"},
		{"symlinks inside a copied directory stay symlinks", "only the named source is followed",
			"COPY app /app/", []string{"app/inner"}, "app/inner: 2 777 0:0 -> conf/a.yaml\n"},
		{"executable bits are kept", "modes come from the context",
			"COPY app/bin /usr/local/bin/", []string{"usr/local/bin/server"}, "usr/local/bin/server: 0 755 0:0 \"#!/bin/sh\\necho server\\n\"\n"},
		{"empty directory", "the destination of an empty directory is still made",
			"COPY empty /e", []string{"e"}, "e: 5 755 0:0\n"},
		{"re-included by !", "!logs/keep.log brings one file back",
			"COPY logs /l/", []string{"l"}, "l: 5 755 0:0\nl/keep.log: 0 644 0:0 \"keep\"\n"},
		{"--chown numeric", "files and the destination made get the owner; existing directories keep theirs",
			"COPY --chown=1000:50 app/conf /usr/local/conf", []string{"usr/local/conf", "usr/local"},
			"usr/local: 5 755 0:0\nusr/local/bin: 5 755 0:0\nusr/local/conf: 5 755 1000:50\nusr/local/conf/a.yaml: 0 644 1000:50 \"a: 1\"\nusr/local/conf/b.md: 0 644 1000:50 \"b\"\n"},
		{"--chown uid alone", "a numeric user alone is uid:uid",
			"COPY --chown=1234 foo /f", []string{"f"}, "f: 0 644 1234:1234 \"hello\"\n"},
		{"--chown by name", "names from the stage's /etc/passwd (primary group) and /etc/group",
			"COPY --chown=node foo /a\nCOPY --chown=node:staff foo /b\nCOPY --chown=app foo /c", []string{"a", "b", "c"},
			"a: 0 644 1000:1000 \"hello\"\nb: 0 644 1000:50 \"hello\"\nc: 0 644 1001:50 \"hello\"\n"},
		{"--chown with variables", "flags are expanded",
			"ARG owner=node\nENV group=staff\nCOPY --chown=${owner}:${group} foo /o", []string{"o"}, "o: 0 644 1000:50 \"hello\"\n"},
		{"--chown creates missing parents with the owner", "mkdir -p with the user, as BuildKit (testCopyChownCreateDest)",
			"COPY --chown=node foo /new/dir/f", []string{"new"}, "new: 5 755 1000:1000\nnew/dir: 5 755 1000:1000\nnew/dir/f: 0 644 1000:1000 \"hello\"\n"},
		{"--chmod octal", "testCopyChmod: 0644, 777, 0, and special bits",
			"COPY --chmod=0644 app/bin/server /s1\nCOPY --chmod=777 foo /s2\nCOPY --chmod=0 foo /s3\nCOPY --chmod=4755 foo /s4",
			[]string{"s1", "s2", "s3", "s4"},
			"s1: 0 644 0:0 \"#!/bin/sh\\necho server\\n\"\ns2: 0 777 0:0 \"hello\"\ns3: 0 0 0:0 \"hello\"\ns4: 0 4755 0:0 \"hello\"\n"},
		{"--chmod on a directory applies to its entries", "directories included",
			"COPY --chmod=0750 app/conf /cm", []string{"cm"}, "cm: 5 750 0:0\ncm/a.yaml: 0 750 0:0 \"a: 1\"\ncm/b.md: 0 750 0:0 \"b\"\n"},
		{"--chmod symbolic", "u+x,go-r",
			"COPY --chmod=u+x,go-r foo /sym", []string{"sym"}, "sym: 0 700 0:0 \"hello\"\n"},
		{"--chmod from a variable", "testCopyChmod's ${mode}",
			"ARG mode=755\nCOPY --chmod=${mode} foo /footer", []string{"footer"}, "footer: 0 755 0:0 \"hello\"\n"},
		{"--exclude", "patterns relative to the copied directory, anchored as in .dockerignore (*.md is the top level's)",
			"COPY --exclude=*.md --exclude=bin app /ex/", []string{"ex"},
			"ex: 5 755 0:0\nex/conf: 5 755 0:0\nex/conf/a.yaml: 0 644 0:0 \"a: 1\"\nex/conf/b.md: 0 644 0:0 \"b\"\nex/inner: 2 777 0:0 -> conf/a.yaml\n"},
		{"--exclude with **", "**/*.md at any depth",
			"COPY --exclude=**/*.md app/conf /ex2/", []string{"ex2"},
			"ex2: 5 755 0:0\nex2/a.yaml: 0 644 0:0 \"a: 1\"\n"},
		{"--parents", "the source path is kept under the destination",
			"COPY --parents src/app/main.go src/lib/x.go /out/", []string{"out"},
			"out: 5 755 0:0\nout/src: 5 755 0:0\nout/src/app: 5 755 0:0\nout/src/app/main.go: 0 644 0:0 \"package main\"\nout/src/lib: 5 755 0:0\nout/src/lib/x.go: 0 644 0:0 \"package lib\"\n"},
		{"--parents with a pivot and a wildcard", "what follows /./ is kept",
			"COPY --parents src/./app/*.go /pv/", []string{"pv"},
			"pv: 5 755 0:0\npv/app: 5 755 0:0\npv/app/main.go: 0 644 0:0 \"package main\"\npv/app/util.go: 0 644 0:0 \"package main // util\"\n"},
		{"several sources into a directory", "COPY a b dir/",
			"COPY foo foo.go /multi/", []string{"multi"}, "multi: 5 755 0:0\nmulti/foo: 0 644 0:0 \"hello\"\nmulti/foo.go: 0 644 0:0 \"foo-contents\"\n"},
		{"several files to a destination without a slash", "docker build copies them in turn to the same name: the last one wins (docker's reference asks for a slash)",
			"COPY foo.go bar.go /onefile\nCOPY *.go /glob", []string{"onefile", "glob"}, "glob: 0 644 0:0 \"foo-contents\"\nonefile: 0 644 0:0 \"bar-contents\"\n"},
		{"the same file twice", "testCopyOverrideFiles: a later copy replaces",
			"COPY foo.go dest/foo.go\nCOPY bar.go dest/foo.go", []string{"dest"}, "dest: 5 755 0:0\ndest/foo.go: 0 644 0:0 \"bar-contents\"\n"},
		{"heredoc", "COPY <<EOF writes the text, 0644; variables expanded unless the delimiter is quoted",
			"ENV WHO=world\nCOPY <<EOF /hello\nhello ${WHO}\nEOF\nCOPY <<\"EOF\" /raw\nraw ${WHO}\nEOF",
			[]string{"hello", "raw"}, "hello: 0 644 0:0 \"hello world\\n\"\nraw: 0 644 0:0 \"raw ${WHO}\\n\"\n"},
		{"heredoc into a directory, with --chmod", "the heredoc's name under a directory destination",
			"COPY --chmod=755 <<run.sh /scripts/\n#!/bin/sh\nrun.sh", []string{"scripts"}, "scripts: 5 755 0:0\nscripts/run.sh: 0 755 0:0 \"#!/bin/sh\\n\"\n"},
		{"deep tree", "every level",
			"COPY deep /d", []string{"d/a/b/c/d/e.txt"}, "d/a/b/c/d/e.txt: 0 644 0:0 \"deep\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustBuild(t, dir, "FROM base\n"+tc.dockerfile+"\n", WithResolver(resolverOf(map[string]v1.Image{"base": base})))
			assert.Equal(t, tc.want, listing(files(t, img), tc.paths...), "%s: %s", tc.name, tc.why)
		})
	}
}

// TestCopyErrors is the table of COPY and ADD sources docker refuses.
func TestCopyErrors(t *testing.T) {
	dir := newContext(t, copyContext)
	for _, tc := range []struct {
		name, dockerfile, want string
		err                    error
	}{
		{"missing", "COPY nope /", `"/nope": not found in the build context`, ErrNotFound},
		{"excluded by .dockerignore", "COPY secret.txt /", `"/secret.txt": excluded from the build context by ` + dir + "/.dockerignore", ErrNotFound},
		{"excluded by a pattern", "COPY logs/x.log /", `"/logs/x.log": excluded`, ErrNotFound},
		{"an absolute symlink stays in the context", "COPY abs /p", `"/abs": not found in the build context`, ErrNotFound},
		{"dot-dot stays in the context", "COPY ../../etc/passwd /p", `"/etc/passwd": not found`, ErrNotFound},
		{"URL with COPY", "COPY https://example.com/x /x", "source can't be a URL for COPY", ErrParse},
		{"--chown of an unknown user", "COPY --chown=ghost foo /", "unable to find user ghost", ErrNotFound},
		{"--chown of an unknown group", "COPY --chown=node:ghosts foo /", "unable to find group ghosts", ErrNotFound},
		{"--from an undefined stage index", "COPY --from=7 /x /", "invalid stage index 7", ErrNotFound},
		{"--parents of a missing path", "COPY --parents src/nope.go /out/", `"/src/nope.go": not found`, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildIn(t, dir, "FROM base\n"+tc.dockerfile+"\n", WithResolver(resolverOf(map[string]v1.Image{"base": debianish(t, "linux/amd64")})))
			require.ErrorIs(t, err, tc.err, "Build")
			assert.Contains(t, err.Error(), "Dockerfile:2: "+tc.dockerfile, "error names line and instruction")
			assert.Contains(t, err.Error(), tc.want, "Build error")
		})
	}
}
