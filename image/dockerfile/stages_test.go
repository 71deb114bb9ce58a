package dockerfile

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnbuildCopyFrom: an ONBUILD trigger that copies --from a stage, of
// a base image or of a base stage, makes that stage (and what it needs)
// part of the build, as BuildKit's initOnBuildTriggers adds the stages
// its triggers name to the dependencies.
func TestOnbuildCopyFrom(t *testing.T) {
	dir := newContext(t, map[string]string{"a": "a"})
	withTrigger := baseImage(t, "linux/amd64", v1.Config{OnBuild: []string{"COPY --from=assets /a /from-assets"}})
	res := WithResolver(resolverOf(map[string]v1.Image{"triggers": withTrigger}))
	// The file COPY a /a placed in assets, copied with its owner and mode.
	want := "from-assets: 0 644 0:0 \"a\"\n"
	for _, tc := range []struct{ name, dockerfile string }{
		{"trigger of the base image", "FROM scratch AS assets\nCOPY a /a\nFROM triggers\n"},
		{"trigger of a base stage", "FROM scratch AS assets\nCOPY a /a\nFROM scratch AS base\nONBUILD COPY --from=assets /a /from-assets\nFROM base\n"},
		{"the trigger's stage built on another", "FROM scratch AS src\nCOPY a /a\nFROM src AS assets\nFROM triggers\n"},
		{"the trigger's stage copying from another", "FROM scratch AS src\nCOPY a /a\nFROM scratch AS assets\nCOPY --from=src /a /a\nFROM triggers\n"},
	} {
		img := mustBuild(t, dir, tc.dockerfile, res)
		assert.Equal(t, want, listing(files(t, img), "from-assets"), "Build(%s) /from-assets", tc.name)
	}

	// A stage a trigger makes needed is checked for RUN before work starts.
	_, err := buildIn(t, dir, "FROM scratch AS assets\nRUN make\nFROM triggers\n", res)
	require.ErrorIs(t, err, ErrNeedsRuntime, "Build with a trigger copying from a stage that RUNs")
	assert.Contains(t, err.Error(), "Dockerfile:2: RUN make", "Build error")
}

// TestOnbuildCopyFromVariable: a trigger's --from holding a variable is
// refused as in a stage (BuildKit's initOnBuildTriggers runs the same
// check), at the FROM of the stage it runs in.
func TestOnbuildCopyFromVariable(t *testing.T) {
	withTrigger := baseImage(t, "linux/amd64", v1.Config{OnBuild: []string{"COPY --from=$S /a /a"}})
	_, err := buildIn(t, t.TempDir(), "FROM scratch AS a\nFROM triggers\n", WithResolver(resolverOf(map[string]v1.Image{"triggers": withTrigger})))
	require.ErrorIs(t, err, ErrParse, "Build with the trigger COPY --from=$S")
	assert.Contains(t, err.Error(), `Dockerfile:2: FROM triggers: dockerfile: invalid Dockerfile: ONBUILD trigger "COPY --from=$S /a /a" of triggers: `+
		"variable expansion is not supported for --from", "Build error")
}

// TestOnbuildTriggerError: a trigger that fails is reported at the FROM
// of the stage it runs in (BuildKit gives the trigger that location),
// with the Dockerfile's name.
func TestOnbuildTriggerError(t *testing.T) {
	withTrigger := baseImage(t, "linux/amd64", v1.Config{OnBuild: []string{"COPY nothere /x"}})
	_, err := buildIn(t, t.TempDir(), "FROM scratch\nLABEL a=b\nFROM triggers\n", WithResolver(resolverOf(map[string]v1.Image{"triggers": withTrigger})))
	require.ErrorIs(t, err, ErrNotFound, "Build with a trigger copying what the context lacks")
	var ie *InstructionError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, 3, ie.Line, "InstructionError.Line: the FROM")
	assert.Contains(t, err.Error(), `Dockerfile:3: ONBUILD COPY nothere /x: trigger of triggers: dockerfile: not found: "/nothere"`, "Build error")
}
