package dockerfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// InstructionError is an error about one instruction of a Dockerfile: where
// it is and what it says, and why it failed (Err, which wraps this
// package's sentinels).
type InstructionError struct {
	File        string // the Dockerfile's name, as given
	Line        int    // 1-based line of the instruction's start
	Instruction string // the instruction as written (first line), or ""
	Err         error
}

func (e *InstructionError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Instruction != "" {
		b.WriteString(": " + e.Instruction)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *InstructionError) Unwrap() error { return e.Err }

// locate wraps err with the instruction at loc (File is set later, by
// the build that knows the name).
func locate(loc []parser.Range, instruction string, err error) error {
	var ie *InstructionError
	if errors.As(err, &ie) {
		return err
	}
	line := 0
	if len(loc) > 0 {
		line = loc[0].Start.Line
	}
	if i := strings.IndexByte(instruction, '\n'); i >= 0 {
		instruction = instruction[:i] + " ..."
	}
	return &InstructionError{Line: line, Instruction: instruction, Err: err}
}

// named sets the file name of an InstructionError in err.
func named(err error, file string) error {
	var ie *InstructionError
	if errors.As(err, &ie) && ie.File == "" {
		ie.File = file
	}
	return err
}

// parsed is a parsed Dockerfile.
type parsed struct {
	name     string
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand
	lex      *shell.Lex
	escape   rune
}

// parse parses a Dockerfile with BuildKit's parser and instructions
// packages; errors name the line and wrap ErrParse.
func parse(name string, content []byte) (*parsed, error) {
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, named(&InstructionError{Err: fmt.Errorf("%w: the Dockerfile is empty", ErrParse)}, name)
	}
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, named(parseErr(err, nil), name)
	}
	// Each instruction alone first: its error names its line.
	for _, n := range res.AST.Children {
		if _, err := instructions.ParseInstruction(n); err != nil {
			return nil, named(parseErr(err, n), name)
		}
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, named(parseErr(err, nil), name)
	}
	if len(stages) == 0 {
		return nil, named(&InstructionError{Err: fmt.Errorf("%w: no FROM: the Dockerfile has no stage to build", ErrParse)}, name)
	}
	p := &parsed{name: name, stages: stages, metaArgs: metaArgs, lex: shell.NewLex(res.EscapeToken), escape: res.EscapeToken}
	for _, st := range stages {
		for _, c := range st.Commands {
			if err := checkFrom(p.lex, c); err != nil {
				return nil, named(locate(c.Location(), codeOf(c), fmt.Errorf("%w: %v", ErrParse, err)), name)
			}
		}
	}
	return p, nil
}

// checkFrom refuses a COPY --from that variable expansion would change,
// in any stage, as BuildKit does before it builds: --from is never
// expanded.
func checkFrom(lex *shell.Lex, c instructions.Command) error {
	cp, ok := c.(*instructions.CopyCommand)
	if !ok || cp.From == "" {
		return nil
	}
	res, err := lex.ProcessWordWithMatches(cp.From, shell.EnvsFromSlice(nil))
	if err != nil {
		return err
	}
	if res.Result != cp.From {
		return errors.New("variable expansion is not supported for --from, " +
			"define a new stage with FROM using ARG from global scope as a workaround")
	}
	return nil
}

// parseErr turns a parser error into an InstructionError wrapping
// ErrParse, at node n when known, else where the error says.
func parseErr(err error, n *parser.Node) error {
	wrapped := fmt.Errorf("%w: %s", ErrParse, strings.TrimPrefix(innermost(err), "dockerfile parse error "))
	if n != nil {
		return locate(n.Location(), strings.TrimSpace(n.Original), wrapped)
	}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 {
		return locate(le.Locations[0], "", wrapped)
	}
	return &InstructionError{Err: wrapped}
}

// innermost is the text of err without BuildKit's stack wrappers.
func innermost(err error) string {
	var le *parser.LocationError
	if errors.As(err, &le) && le.Unwrap() != nil {
		return le.Unwrap().Error()
	}
	return err.Error()
}

// stageIndex finds a stage by name (case-insensitive) or by number, as
// COPY --from does; -1 when there is none before index before.
func (p *parsed) stageIndex(ref string, before int) int {
	return p.stageIn(ref, 0, before, true)
}

// stageIn is the stage among [lo, hi) that ref names, by number or by
// name (of stages of one name, the latest when latest is set, else the
// first), or -1.
func (p *parsed) stageIn(ref string, lo, hi int, latest bool) int {
	if n, err := strconv.Atoi(ref); err == nil {
		if n >= lo && n < hi {
			return n
		}
		return -1
	}
	j := -1
	for i := lo; i < hi; i++ {
		if p.stages[i].Name != "" && strings.EqualFold(p.stages[i].Name, ref) {
			if j = i; !latest {
				break
			}
		}
	}
	return j
}

// laterStageErr is BuildKit's error for a COPY --from in stage current
// (named name) that names that stage or a later one, by name or number;
// nil when ref names no such stage.
func (p *parsed) laterStageErr(ref string, current int, name string) error {
	j := p.stageIn(ref, current, len(p.stages), false)
	switch {
	case j < 0:
		return nil
	case j == current:
		return fmt.Errorf("%w: circular dependency detected on stage: %s", ErrParse, name)
	}
	return fmt.Errorf("%w: cannot copy from stage %q, it needs to be defined before current stage %q", ErrParse, ref, name)
}

// targetIndex is the stage WithTarget names, or the last one.
func (p *parsed) targetIndex(target string) (int, error) {
	if target == "" {
		return len(p.stages) - 1, nil
	}
	for i := len(p.stages) - 1; i >= 0; i-- {
		if p.stages[i].Name == target {
			return i, nil
		}
	}
	var names []string
	for _, s := range p.stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return 0, named(&InstructionError{Err: fmt.Errorf("%w: target stage %q (stages: %s)", ErrNotFound, target, strings.Join(names, ", "))}, p.name)
}

// checkRuntime reports every RUN of the stages in need: each needs a
// container runtime. It runs before any work starts.
func (p *parsed) checkRuntime(need []bool) error {
	var errs []error
	for i, st := range p.stages {
		if !need[i] {
			continue
		}
		for _, c := range st.Commands {
			if r, ok := c.(*instructions.RunCommand); ok {
				errs = append(errs, named(runtimeErr(r.Location(), r.String()), p.name))
			}
		}
	}
	return errors.Join(errs...)
}

func runtimeErr(loc []parser.Range, instruction string) error {
	return locate(loc, instruction, fmt.Errorf("%w: RUN executes a command in a container; "+
		"this Dockerfile needs a container runtime (stevedore builds Dockerfiles whose stages only "+
		"COPY, ADD and set metadata)", ErrNeedsRuntime))
}
