package exampletest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
)

// Failure is a run of an example that must fail: its args, and a
// substring of the error it must return.
type Failure struct {
	Name   string
	Args   []string
	Substr string
}

// RunFailures runs each failure as a subtest named after it: run with its
// args must return an error that contains its Substr. more, when not
// nil, makes the test's own further checks of each failed run.
func RunFailures(t *testing.T, run cli.RunFunc, failures []Failure, more func(t *testing.T, f Failure, err error)) {
	t.Helper()
	for _, f := range failures {
		t.Run(f.Name, func(t *testing.T) {
			r, err := RunErr(t, run, f.Args...)
			require.Error(t, err, "run(%q); stdout %q", f.Args, r.Stdout)
			assert.ErrorContains(t, err, f.Substr, "run(%q)", f.Args)
			if more != nil {
				more(t, f, err)
			}
		})
	}
}
