package dockerfile

import (
	"archive/tar"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/stevedore-dev/stevedore/image"
)

// stageState is a stage being built: the image so far and docker's view
// of its config, tracked here (image.Build is given the result).
type stageState struct {
	b        *platformBuild
	index    int
	spec     *instructions.Stage
	platform v1.Platform
	img      v1.Image      // the image so far; nil for scratch until committed
	cfg      v1.ConfigFile // Author and Config as docker build computes them
	env      *envList      // what words are expanded with: config env + ARGs
	args     []instructions.KeyValuePairOptional
	cmdSet   bool         // CMD given in this stage (ENTRYPOINT then keeps it)
	pending  []v1.History // entries since the last commit
	base     baseInfo     // the image the stage (or its base stage) starts from
	fsTree   *image.Tree  // of img, made on demand
	triggers []triggerCommand
}

// baseInfo names the image a stage starts from, for the base annotations.
type baseInfo struct {
	ref    string
	digest v1.Hash
}

// triggerCommand is an ONBUILD trigger run at the start of a stage.
type triggerCommand struct {
	cmd  instructions.Command
	from string // where it came from, for errors
}

// name is the stage's name, or its index.
func (s *stageState) name() string {
	if s.spec.Name != "" {
		return s.spec.Name
	}
	return strconv.Itoa(s.index)
}

// tree is the file tree of the stage's image so far (not nil), loaded.
func (s *stageState) tree(ctx context.Context) (*image.Tree, error) {
	if s.fsTree == nil {
		t, err := s.b.loadTree(ctx, s.img)
		if err != nil {
			return nil, err
		}
		s.fsTree = t
	}
	return s.fsTree, nil
}

// loadTree returns the file tree of img, loaded.
func (b *platformBuild) loadTree(ctx context.Context, img v1.Image) (*image.Tree, error) {
	t, err := b.trees.TreeOf(img)
	if err != nil {
		return nil, err
	}
	if err := t.Load(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// expand runs variable expansion on the words of cmd, as BuildKit does
// before dispatching it (ARG expands its own default).
func (s *stageState) expand(cmd instructions.Command) error {
	if _, isArg := cmd.(*instructions.ArgCommand); !isArg {
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) {
				w, _, err := s.b.p.lex.ProcessWord(word, s.env)
				return w, err
			})
			if err != nil {
				return fmt.Errorf("%w: %v", ErrParse, err)
			}
		}
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(word string) (string, error) {
			w, _, err := lex.ProcessWord(word, s.env)
			return w, err
		})
		if err != nil {
			return fmt.Errorf("%w: %v", ErrParse, err)
		}
	}
	return nil
}

// text is the instruction as progress shows it: its source, keyword
// uppercased, variables expanded (quotes kept, unset variables left as
// written), as BuildKit names RUN steps.
func (s *stageState) text(cmd instructions.Command) string {
	return displayText(s.b.p.lex, codeOf(cmd), s.env)
}

func displayText(lex *shell.Lex, src string, env shell.EnvGetter) string {
	l := *lex
	l.RawQuotes, l.SkipUnsetEnv = true, true
	if w, _, err := l.ProcessWord(src, env); err == nil {
		src = w
	}
	kw, rest, _ := strings.Cut(src, " ")
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[:i] + " ..."
	}
	return strings.TrimSpace(strings.ToUpper(kw) + " " + rest)
}

// codeOf is an instruction's source text.
func codeOf(cmd instructions.Command) string {
	if st, ok := cmd.(fmt.Stringer); ok {
		return st.String()
	}
	return cmd.Name()
}

// run dispatches the stage's ONBUILD triggers, then its instructions,
// then commits what is left.
func (s *stageState) run(ctx context.Context) error {
	for _, t := range s.triggers {
		if err := s.step(ctx, t.cmd, t.from); err != nil {
			return err
		}
	}
	for _, cmd := range s.spec.Commands {
		if err := s.step(ctx, cmd, ""); err != nil {
			return err
		}
	}
	if len(s.pending) > 0 || s.img == nil {
		return s.commit(ctx, nil)
	}
	return nil
}

// step dispatches one instruction and reports its progress; from names
// where an ONBUILD trigger came from ("" for the stage's own), which is
// reported at the stage's FROM, as BuildKit places triggers.
func (s *stageState) step(ctx context.Context, cmd instructions.Command, from string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	prefix, loc := "", cmd.Location()
	if from != "" {
		prefix, loc = "ONBUILD ", s.spec.Location
	}
	s.b.stepNo++
	s.b.rep.emit(Event{Kind: EventStep, Stage: s.name(), Step: s.b.stepNo, Steps: s.b.steps, Instruction: prefix + s.text(cmd)})
	before := s.img
	if err := s.dispatch(ctx, cmd); err != nil {
		if from != "" {
			err = fmt.Errorf("trigger of %s: %w", from, err)
		}
		return locate(loc, prefix+codeOf(cmd), err)
	}
	e := Event{Kind: EventStepDone, Stage: s.name(), Step: s.b.stepNo, Steps: s.b.steps}
	if s.img != before && s.img != nil {
		e.ImageID, _ = s.img.ConfigName()
	}
	s.b.rep.emit(e)
	return nil
}

func (s *stageState) dispatch(ctx context.Context, cmd instructions.Command) error {
	if err := s.expand(cmd); err != nil {
		return err
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		s.dispatchEnv(c)
	case *instructions.MaintainerCommand:
		s.dispatchMaintainer(c)
	case *instructions.LabelCommand:
		s.dispatchLabel(c)
	case *instructions.OnbuildCommand:
		s.dispatchOnbuild(c)
	case *instructions.CmdCommand:
		s.dispatchCmd(c)
	case *instructions.EntrypointCommand:
		s.dispatchEntrypoint(c)
	case *instructions.HealthCheckCommand:
		s.dispatchHealthcheck(c)
	case *instructions.ExposeCommand:
		return s.dispatchExpose(c)
	case *instructions.UserCommand:
		s.dispatchUser(c)
	case *instructions.VolumeCommand:
		return s.dispatchVolume(c)
	case *instructions.StopSignalCommand:
		return s.dispatchStopSignal(c)
	case *instructions.ShellCommand:
		s.dispatchShell(c)
	case *instructions.ArgCommand:
		return s.dispatchArg(c)
	case *instructions.WorkdirCommand:
		return s.dispatchWorkdir(ctx, c)
	case *instructions.CopyCommand:
		return s.dispatchCopy(ctx, copyArgs{
			cmd: c, sd: c.SourcesAndDest, from: c.From, chown: c.Chown, chmod: c.Chmod,
			link: c.Link, parents: c.Parents, excludes: c.ExcludePatterns,
		})
	case *instructions.AddCommand:
		return s.dispatchCopy(ctx, copyArgs{
			cmd: c, sd: c.SourcesAndDest, add: true, chown: c.Chown, chmod: c.Chmod,
			link: c.Link, excludes: c.ExcludePatterns, checksum: c.Checksum,
			keepGitDir: c.KeepGitDir, unpack: c.Unpack,
		})
	case *instructions.RunCommand:
		return runtimeErr(c.Location(), c.String())
	default:
		return fmt.Errorf("%w: %s is not supported", ErrParse, cmd.Name())
	}
	return nil
}

// dispatchWorkdir sets the working directory and, unless it is "/",
// creates it (and missing parents) in a layer, owned by the stage's USER,
// as BuildKit's mkdir -p does; directories that exist are left alone.
func (s *stageState) dispatchWorkdir(ctx context.Context, c *instructions.WorkdirCommand) error {
	wd := normalizeWorkdir(s.cfg.Config.WorkingDir, c.Path)
	s.cfg.Config.WorkingDir = wd
	if wd == "/" {
		s.record("WORKDIR "+wd, false)
		return nil
	}
	missing, err := s.missingDirs(ctx, wd)
	if err != nil {
		return err
	}
	var own *owner
	if u := s.cfg.Config.User; u != "" && len(missing) > 0 {
		o, err := s.resolveOwner(ctx, u)
		if err != nil {
			return err
		}
		own = &o
	}
	l, err := s.b.dirsLayer(ctx, missing, own)
	if err != nil {
		return err
	}
	s.record("WORKDIR "+wd, true)
	return s.commitLayer(ctx, l)
}

// missingDirs returns the directories mkdir -p dir creates in the stage's
// filesystem: from the first missing component down, at the path they
// get once the existing components' symlinks are followed.
func (s *stageState) missingDirs(ctx context.Context, dir string) ([]string, error) {
	if s.img == nil {
		// Nothing committed yet: the stage is empty.
		return ancestorsAndSelf(cleanName(dir)), nil
	}
	t, err := s.tree(ctx)
	if err != nil {
		return nil, err
	}
	parts := strings.Split(cleanName(dir), "/")
	for i := len(parts); i > 0; i-- {
		p := strings.Join(parts[:i], "/")
		real, n, ok, err := t.Resolve(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if n.Type != tar.TypeDir {
			return nil, fmt.Errorf("mkdir %s: /%s is not a directory", dir, p)
		}
		var out []string
		for j := i + 1; j <= len(parts); j++ {
			out = append(out, joinRel(real, strings.Join(parts[i:j], "/")))
		}
		return out, nil
	}
	return ancestorsAndSelf(cleanName(dir)), nil
}

// ancestorsAndSelf lists a/b/c as a, a/b, a/b/c.
func ancestorsAndSelf(rel string) []string {
	if rel == "" {
		return nil
	}
	parts := strings.Split(rel, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}

// cleanName is a slash path as a clean relative path ("" for the root).
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func joinRel(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}

// resolveOwner turns a USER or --chown value into ids, reading the
// stage's /etc/passwd and /etc/group when it holds names.
func (s *stageState) resolveOwner(ctx context.Context, spec string) (owner, error) {
	c, err := parseChown(spec)
	if err != nil {
		return owner{}, fmt.Errorf("%w: %v", ErrParse, err)
	}
	needPasswd, needGroup := c.needsFiles()
	var passwd, group []byte
	if needPasswd {
		passwd, _ = s.readFile(ctx, "/etc/passwd")
	}
	if needGroup {
		group, _ = s.readFile(ctx, "/etc/group")
	}
	return c.resolve(passwd, group)
}

// maxReadFile bounds the files of a stage that are read (/etc/passwd,
// /etc/group).
const maxReadFile = 16 << 20

// readFile reads a small file of the stage's filesystem (symlinks
// followed); an empty stage has none.
func (s *stageState) readFile(ctx context.Context, p string) ([]byte, error) {
	if s.img == nil {
		return nil, nil
	}
	t, err := s.tree(ctx)
	if err != nil {
		return nil, err
	}
	if _, n, ok, err := t.Resolve(p); err == nil && ok && n.Size > maxReadFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, maxReadFile)
	}
	return t.ReadFile(ctx, p)
}

// commitLayer commits l with the pending history.
func (s *stageState) commitLayer(ctx context.Context, l layerRef) error {
	if err := s.commit(ctx, l); err != nil {
		return err
	}
	d, size, cached := lastLayer(s.img)
	if cached {
		s.b.rep.emit(Event{Kind: EventCached, Stage: s.name(), Step: s.b.stepNo, Steps: s.b.steps})
	}
	s.b.rep.emit(Event{Kind: EventLayer, Stage: s.name(), Step: s.b.stepNo, Steps: s.b.steps, Digest: d, Size: size})
	return nil
}

// commit makes the stage's image: the previous one, plus l when not nil,
// with the config and the pending history entries.
func (s *stageState) commit(ctx context.Context, l layerRef) error {
	img, err := commitImage(ctx, s.b.trees, s.img, s.platform, l, s.cfg, s.pending)
	if err != nil {
		return err
	}
	s.img, s.pending, s.fsTree = img, nil, nil
	return nil
}
