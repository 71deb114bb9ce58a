package dockerfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunNeedsRuntime: RUN fails before any work, naming file, line and
// instruction; RUN in a stage the target does not need is fine.
func TestRunNeedsRuntime(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "api.Dockerfile")
	resolved := 0
	resolver := func(context.Context, string, v1.Platform) (v1.Image, error) {
		resolved++
		return nil, errors.New("not reached")
	}
	for _, tc := range []struct {
		name, dockerfile string
		opts             []Option
		want             []string // one per RUN reported
	}{
		{"RUN in the target", "FROM node:12\nWORKDIR /src\nRUN npm ci \\\n  --omit=dev\nCOPY . .\n", nil,
			[]string{df + ":3: RUN npm ci   --omit=dev: dockerfile: instruction needs a container runtime: RUN executes a command in a container; this Dockerfile needs a container runtime"}},
		{"RUN in a stage the target copies from, and in the target", "FROM golang AS build\nRUN go build ./...\nFROM scratch\nCOPY --from=build /app /app\nRUN [\"/app\", \"--selftest\"]\n", nil,
			[]string{df + ":2: RUN go build ./...", df + `:5: RUN ["/app", "--selftest"]`}},
		{"heredoc RUN", "FROM alpine\nRUN <<EOF\napk add curl\nEOF\n", nil, []string{df + ":2: RUN <<EOF: dockerfile: instruction needs a container runtime"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(df, []byte(tc.dockerfile), 0o644))
			resolved = 0
			_, err := Build(context.Background(), append([]Option{WithContextDir(dir), WithDockerfile(df), WithResolver(resolver)}, tc.opts...)...)
			require.ErrorIs(t, err, ErrNeedsRuntime, "Build")
			var ie *InstructionError
			require.ErrorAs(t, err, &ie, "Build error is an InstructionError")
			assert.Equal(t, df, ie.File, "InstructionError.File")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w, "Build error")
			}
			assert.Equal(t, len(tc.want), strings.Count(err.Error(), "this Dockerfile needs a container runtime"), "one error per RUN")
			assert.Zero(t, resolved, "no FROM resolved before the RUN error")
		})
	}
	// A RUN in a stage the target does not need is never run: no error.
	require.NoError(t, os.WriteFile(df, []byte("FROM scratch AS test\nRUN make test\nFROM scratch AS release\nLABEL a=b\n"), 0o644))
	_, err := Build(context.Background(), WithContextDir(dir), WithDockerfile(df), WithTarget("release"))
	assert.NoError(t, err, "RUN in an unneeded stage")
}

func TestOnbuildRunOfBase(t *testing.T) {
	base := baseImage(t, "linux/amd64", v1.Config{OnBuild: []string{"RUN make"}})
	_, err := buildIn(t, t.TempDir(), "FROM withtriggers\nLABEL a=b\n", WithResolver(resolverOf(map[string]v1.Image{"withtriggers": base})))
	require.ErrorIs(t, err, ErrNeedsRuntime, "a base whose ONBUILD trigger RUNs")
	assert.Contains(t, err.Error(), `Dockerfile:1: FROM withtriggers: dockerfile: instruction needs a container runtime: withtriggers has the ONBUILD trigger "RUN make"`)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, dockerfile string
		opts             []Option
		want             error
		msg              string
	}{
		{"empty", "\n\n", nil, ErrParse, "Dockerfile: dockerfile: invalid Dockerfile: the Dockerfile is empty"},
		{"no FROM", "# only a comment\nARG X=1\n", nil, ErrParse, "no FROM"},
		{"instruction before FROM", "LABEL a=b\nFROM scratch\n", nil, ErrParse, "Dockerfile:1"},
		{"unknown instruction", "FROM scratch\nFOO bar\n", nil, ErrParse, "Dockerfile:2: FOO bar: dockerfile: invalid Dockerfile: unknown instruction: FOO"},
		{"COPY without destination", "FROM scratch\nCOPY onlyone\n", nil, ErrParse, "Dockerfile:2: COPY onlyone"},
		{"unknown flag", "FROM scratch\nCOPY --bogus=1 a b\n", nil, ErrParse, "unknown flag: --bogus"},
		{"bad stage name", "FROM scratch AS 1st\n", nil, ErrParse, "invalid name for build stage"},
		{"blank FROM", "ARG B\nFROM $B\n", nil, ErrParse, "Dockerfile:2: FROM $B: dockerfile: invalid Dockerfile: base name ($B) should not be blank"},
		{"bad EXPOSE", "FROM scratch\nEXPOSE 80/xyz\n", nil, ErrParse, "Dockerfile:2: EXPOSE 80/xyz"},
		{"bad STOPSIGNAL", "FROM scratch\nSTOPSIGNAL SIGNOPE\n", nil, ErrParse, "invalid signal: SIGNOPE"},
		{"bad --chmod", "FROM scratch\nCOPY --chmod=8888 a /\n", nil, ErrParse, "invalid chmod parameter: '8888'"},
		{"checksum on COPY", "FROM scratch\nCOPY --checksum=sha256:00 a /\n", nil, ErrParse, "unknown flag: --checksum"},
		{"unknown target", "FROM scratch AS a\n", []Option{WithTarget("b")}, ErrNotFound, `target stage "b" (stages: a)`},
		{"image without resolver", "FROM alpine\n", nil, ErrNoResolver, "Dockerfile:1: FROM alpine"},
		{"missing source", "FROM scratch\nCOPY nothere /\n", nil, ErrNotFound, `Dockerfile:2: COPY nothere /: dockerfile: not found: "/nothere": not found in the build context`},
		{"bad variable syntax", "FROM scratch\nENV A=${B\n", nil, ErrParse, "Dockerfile:2"},
		// BuildKit's errors (dockerfile2llb toCommand, dispatch,
		// validateCircularDependency), where these were resolved as
		// image references.
		{"--from with a variable", "ARG S=a\nFROM scratch AS a\nFROM scratch\nCOPY --from=$S /x /x\n", nil, ErrParse,
			"Dockerfile:4: COPY --from=$S /x /x: dockerfile: invalid Dockerfile: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround"},
		{"--from with a variable, in a stage not built", "FROM scratch AS a\nCOPY --from=${S} /x /x\nFROM scratch\n", nil, ErrParse,
			"Dockerfile:2: COPY --from=${S} /x /x: dockerfile: invalid Dockerfile: variable expansion is not supported for --from"},
		{"--from a later stage", "FROM scratch AS b\nCOPY --from=a /a.txt /a.txt\nFROM scratch AS a\n", []Option{WithTarget("b")}, ErrParse,
			`Dockerfile:2: COPY --from=a /a.txt /a.txt: dockerfile: invalid Dockerfile: cannot copy from stage "a", it needs to be defined before current stage "b"`},
		{"--from a later stage by number", "FROM scratch AS b\nCOPY --from=1 /a.txt /a.txt\nFROM scratch\n", []Option{WithTarget("b")}, ErrParse,
			`cannot copy from stage "1", it needs to be defined before current stage "b"`},
		{"--from its own stage", "FROM scratch AS a\nCOPY --from=A /x /x\n", nil, ErrParse,
			"Dockerfile:2: COPY --from=A /x /x: dockerfile: invalid Dockerfile: circular dependency detected on stage: a"},
		// --checksum is parsed as BuildKit parses it (go-digest's
		// digest.Parse); BuildKit then compares it with the sha256 of the
		// download (source/http), so another algorithm never matches.
		{"checksum not in lowercase hex", "FROM scratch\nADD --checksum=sha256:" + strings.Repeat("AB", 32) + " http://127.0.0.1:1/x /x\n", nil, ErrParse,
			"Dockerfile:2: ADD --checksum=sha256:ABAB"},
		{"checksum of an unknown algorithm", "FROM scratch\nADD --checksum=md5:" + strings.Repeat("ab", 16) + " http://127.0.0.1:1/x /x\n", nil, ErrParse,
			"unsupported digest algorithm"},
		{"checksum sha512", "FROM scratch\nADD --checksum=sha512:" + strings.Repeat("ab", 64) + " http://127.0.0.1:1/x /x\n", nil, ErrParse,
			"want sha256:<64 hex digits>"},
		{"--from a stage number out of range", "FROM scratch\nCOPY --from=3 /x /x\n", nil, ErrNotFound, "invalid stage index 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildIn(t, t.TempDir(), tc.dockerfile, tc.opts...)
			require.ErrorIs(t, err, tc.want, "Build of %q", tc.dockerfile)
			assert.Contains(t, err.Error(), tc.msg, "Build error")
		})
	}
}
