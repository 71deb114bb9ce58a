package dockerfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/stevedore-dev/stevedore/image"
)

// defaultPath is the PATH docker build gives a stage whose base has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Build builds the image of a Dockerfile's target stage for one platform
// (see WithPlatforms), as docker build would, without a daemon: FROM
// images come from the Resolver, COPY and ADD become layers (in the layer
// cache with WithCache), and the config and history are docker's. A
// Dockerfile whose stages RUN commands fails before any work starts with
// an InstructionError wrapping ErrNeedsRuntime.
func Build(ctx context.Context, opts ...Option) (v1.Image, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if len(o.platforms) != 1 {
		return nil, optErr("WithPlatforms", "Build makes one image: give one platform, or call BuildIndex")
	}
	src, err := load(o)
	if err != nil {
		return nil, err
	}
	defer src.ctxt.close()
	pb, err := src.plan(o, o.platforms[0])
	if err != nil {
		return nil, err
	}
	img, err := pb.run(ctx)
	return img, named(err, src.p.name)
}

// BuildIndex builds the Dockerfile once per platform of WithPlatforms,
// each with its own TARGETPLATFORM and its FROM images resolved for it,
// and returns the images as an OCI image index. Every platform is checked
// (RUN, stages, arguments) before any is built.
func BuildIndex(ctx context.Context, opts ...Option) (v1.ImageIndex, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	src, err := load(o)
	if err != nil {
		return nil, err
	}
	defer src.ctxt.close()
	var pbs []*platformBuild
	for _, p := range o.platforms {
		pb, err := src.plan(o, p)
		if err != nil {
			return nil, err
		}
		pbs = append(pbs, pb)
	}
	var imgs []v1.Image
	for _, pb := range pbs {
		img, err := pb.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", platformString(pb.platform), named(err, src.p.name))
		}
		imgs = append(imgs, img)
	}
	return indexOf(imgs, o.platforms)
}

// source is a loaded Dockerfile and its context, shared by the platforms.
// Each platform parses the Dockerfile again: expansion rewrites the
// parsed instructions in place.
type source struct {
	p       *parsed
	content []byte
	ctxt    *buildContext
	trees   *image.Tree // the empty image's: the trees of the build's images are made from it
}

// load reads and parses the Dockerfile and opens the context.
func load(o *options) (*source, error) {
	name, content, err := readDockerfile(o)
	if err != nil {
		return nil, err
	}
	p, err := parse(name, content)
	if err != nil {
		return nil, err
	}
	ignoreBase := name
	if o.contentSet {
		ignoreBase = ""
	}
	c, err := openContext(o, ignoreBase)
	if err != nil {
		return nil, err
	}
	// The file trees of the images the build reads (the stages', those
	// COPY --from names) share the index of each layer.
	trees, err := image.NewTree(empty.Image, o.cacheDir)
	if err != nil {
		return nil, err
	}
	return &source{p: p, content: content, ctxt: c, trees: trees}, nil
}

// readDockerfile returns the Dockerfile's name (for errors) and content.
func readDockerfile(o *options) (string, []byte, error) {
	switch {
	case o.contentSet:
		return "Dockerfile", o.content, nil
	case o.contextFS != nil:
		name := o.dockerfile
		if name == "" {
			name = "Dockerfile"
		}
		b, err := fs.ReadFile(o.contextFS, name)
		if err != nil {
			return "", nil, fmt.Errorf("reading the Dockerfile: %w", err)
		}
		return name, b, nil
	}
	name := o.dockerfile
	if name == "" {
		name = filepath.Join(o.contextDir, "Dockerfile")
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	return name, b, nil
}

// platformBuild is the build of the Dockerfile for one platform.
type platformBuild struct {
	o        *options
	p        *parsed
	ctxt     *buildContext
	trees    *image.Tree // see source
	platform v1.Platform
	global   *envList // predefined and meta arguments
	target   int
	need     []bool
	bases    []stageBase
	stages   []*stageState
	images   map[string]v1.Image // resolved references, by ref and platform
	steps    int
	stepNo   int
	rep      *reporter
}

// stageBase is what a stage's FROM names once expanded.
type stageBase struct {
	name     string // image reference, "scratch", or a stage name
	stage    int    // index of the base stage, or -1
	platform v1.Platform
}

// plan expands the FROMs for platform, finds the stages the target needs
// and refuses RUN in them: everything that can fail before work starts.
func (src *source) plan(o *options, platform v1.Platform) (*platformBuild, error) {
	p, err := parse(src.p.name, src.content)
	if err != nil {
		return nil, err
	}
	pb := &platformBuild{o: o, p: p, ctxt: src.ctxt, trees: src.trees, platform: platform,
		images: map[string]v1.Image{}, rep: &reporter{f: o.progress}}
	if len(o.platforms) > 1 {
		pb.rep.platform = platformString(platform)
	}
	target, err := p.targetIndex(o.target)
	if err != nil {
		return nil, err
	}
	pb.target = target
	targetName := p.stages[target].Name
	global := predefinedArgs(platform, o.buildPlatform, targetName, o.buildArgs)
	if pb.global, err = metaArgs(global, p.lex, p.metaArgs, o.buildArgs); err != nil {
		return nil, named(err, p.name)
	}
	for i := range p.stages {
		b, err := pb.expandFrom(i)
		if err != nil {
			return nil, named(err, p.name)
		}
		pb.bases = append(pb.bases, b)
	}
	pb.need = make([]bool, len(p.stages))
	pb.mark(target)
	if err := p.checkRuntime(pb.need); err != nil {
		return nil, err
	}
	pb.count(pb.need)
	return pb, nil
}

// expandFrom expands stage i's FROM with the global arguments.
func (pb *platformBuild) expandFrom(i int) (stageBase, error) {
	st := &pb.p.stages[i]
	name, _, err := pb.p.lex.ProcessWord(st.BaseName, pb.global)
	if err != nil {
		return stageBase{}, locate(st.Location, st.SourceCode, fmt.Errorf("%w: %v", ErrParse, err))
	}
	if name == "" {
		return stageBase{}, locate(st.Location, st.SourceCode, fmt.Errorf("%w: base name (%s) should not be blank", ErrParse, st.BaseName))
	}
	b := stageBase{name: name, stage: -1, platform: pb.platform}
	for j := i - 1; j >= 0; j-- {
		if pb.p.stages[j].Name != "" && pb.p.stages[j].Name == name {
			b.stage = j
			break
		}
	}
	if st.Platform != "" {
		ps, _, err := pb.p.lex.ProcessWord(st.Platform, pb.global)
		if err == nil {
			b.platform, err = parsePlatform(ps)
		}
		if err != nil {
			return stageBase{}, locate(st.Location, st.SourceCode, fmt.Errorf("%w: --platform: %v", ErrParse, err))
		}
	}
	return b, nil
}

// mark marks stage i and the stages it needs: its base, and those its
// COPY --from name, or the COPY --from of its base stage's ONBUILD
// triggers (see markFrom for those of a base image).
func (pb *platformBuild) mark(i int) {
	if pb.need[i] {
		return
	}
	pb.need[i] = true
	if j := pb.bases[i].stage; j >= 0 {
		pb.mark(j)
		for _, c := range pb.p.stages[j].Commands {
			if ob, ok := c.(*instructions.OnbuildCommand); ok {
				if cmd, err := parseTrigger(ob.Expression); err == nil { // else reported by startStage
					pb.markFrom(i, cmd)
				}
			}
		}
	}
	for _, c := range pb.p.stages[i].Commands {
		pb.markFrom(i, c)
	}
}

// markFrom marks the stage a COPY --from in stage i names, if any.
func (pb *platformBuild) markFrom(i int, c instructions.Command) {
	if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
		if j := pb.p.stageIndex(cp.From, i); j >= 0 {
			pb.mark(j)
		}
	}
}

// count adds the steps of the stages in need to the build's.
func (pb *platformBuild) count(need []bool) {
	for i, st := range pb.p.stages {
		if need[i] {
			pb.steps += 1 + len(st.Commands)
		}
	}
}

// run resolves the bases, then builds the needed stages in order.
func (pb *platformBuild) run(ctx context.Context) (v1.Image, error) {
	if err := pb.newStages(ctx); err != nil {
		return nil, err
	}
	for i, s := range pb.stages {
		if s == nil {
			continue
		}
		pb.stepNo++
		pb.rep.emit(Event{Kind: EventStep, Stage: s.name(), Step: pb.stepNo, Steps: pb.steps,
			Instruction: displayText(pb.p.lex, s.spec.SourceCode, pb.global)})
		if err := pb.startStage(s); err != nil {
			return nil, err
		}
		if err := s.run(ctx); err != nil {
			return nil, err
		}
		if i == pb.target {
			break
		}
	}
	t := pb.stages[pb.target]
	var target *v1.Platform
	if pb.o.platformsSet {
		target = &pb.platform
	}
	img, err := finish(ctx, t.img, t.base, target)
	if err != nil {
		return nil, err
	}
	d, _ := img.Digest()
	id, _ := img.ConfigName()
	size, _ := img.Size()
	pb.rep.emit(Event{Kind: EventImage, Stage: t.name(), Digest: d, ImageID: id, Size: size})
	return img, nil
}

// newStages makes the state of every needed stage, resolving the base
// images. The COPY --from of an image's ONBUILD triggers can make more
// stages needed, as BuildKit's initOnBuildTriggers adds them to the
// dependencies: those are checked for RUN, counted and made in turn.
func (pb *platformBuild) newStages(ctx context.Context) error {
	pb.stages = make([]*stageState, len(pb.p.stages))
	for {
		before := slices.Clone(pb.need)
		for i := range pb.p.stages {
			if !pb.need[i] || pb.stages[i] != nil {
				continue
			}
			s, err := pb.newStage(ctx, i)
			if err != nil {
				return err
			}
			pb.stages[i] = s
			for _, t := range s.triggers {
				pb.markFrom(i, t.cmd)
			}
		}
		added := make([]bool, len(pb.need))
		for i := range pb.need {
			added[i] = pb.need[i] && !before[i]
		}
		if !slices.Contains(added, true) {
			return nil
		}
		if err := pb.p.checkRuntime(added); err != nil {
			return err
		}
		pb.count(added)
	}
}

// resolve returns the image ref names for platform, through the Resolver.
func (pb *platformBuild) resolve(ctx context.Context, ref string, platform v1.Platform) (v1.Image, error) {
	key := ref + "|" + platformString(platform)
	if img, ok := pb.images[key]; ok {
		return img, nil
	}
	if pb.o.resolver == nil {
		return nil, fmt.Errorf("%w: %s (give WithResolver)", ErrNoResolver, ref)
	}
	img, err := pb.o.resolver(ctx, ref, platform)
	if err != nil {
		return nil, fmt.Errorf("resolving %s for %s: %w", ref, platformString(platform), err)
	}
	pb.images[key] = img
	return img, nil
}

// newStage makes stage i's state. A stage on an image resolves it now and
// checks its ONBUILD triggers, so that a trigger that RUNs fails before
// any layer is built; a stage on another stage starts in startStage.
func (pb *platformBuild) newStage(ctx context.Context, i int) (*stageState, error) {
	st := &pb.p.stages[i]
	b := pb.bases[i]
	s := &stageState{b: pb, index: i, spec: st, platform: b.platform}
	switch {
	case b.stage >= 0:
		return s, nil
	case strings.EqualFold(b.name, "scratch"):
		// Of the target platform whatever FROM --platform says, as
		// BuildKit's scratch stages are.
		s.platform = pb.platform
		s.cfg = v1.ConfigFile{Config: v1.Config{WorkingDir: "/"}}
	default:
		img, err := pb.resolve(ctx, b.name, b.platform)
		if err != nil {
			return nil, locate(st.Location, st.SourceCode, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, locate(st.Location, st.SourceCode, fmt.Errorf("config of %s: %w", b.name, err))
		}
		cf = cf.DeepCopy()
		d, _ := img.Digest()
		s.img = img
		if ref, ok := referenceOf(img); ok {
			s.base = baseInfo{ref: ref, digest: d}
		}
		s.cfg = v1.ConfigFile{Author: cf.Author, Config: cf.Config}
		if err := s.addTriggers(cf.Config.OnBuild, b.name); err != nil {
			return nil, err
		}
		s.cfg.Config.OnBuild = nil
	}
	s.initEnv()
	return s, nil
}

// referenceOf reports the reference img came from, when it says (as
// registry.Pull's images do).
func referenceOf(img v1.Image) (string, bool) {
	if r, ok := img.(interface{ Reference() name.Reference }); ok {
		return r.Reference().Name(), true
	}
	return "", false
}

// startStage initializes a stage built on another stage, which is done
// by now: its image, config, variables and ARGs, and the ONBUILD
// instructions of the base stage as triggers.
func (pb *platformBuild) startStage(s *stageState) error {
	j := pb.bases[s.index].stage
	if j < 0 {
		return nil
	}
	parent := pb.stages[j]
	s.img, s.base = parent.img, parent.base
	s.cfg = v1.ConfigFile{Author: parent.cfg.Author, Config: *parent.cfg.Config.DeepCopy()}
	s.cfg.Config.OnBuild = nil
	s.env = parent.env.clone()
	s.args = append(s.args, parent.args...)
	var triggers []string
	for _, c := range parent.spec.Commands {
		if ob, ok := c.(*instructions.OnbuildCommand); ok {
			triggers = append(triggers, ob.Expression)
		}
	}
	if err := s.addTriggers(triggers, "stage "+parent.name()); err != nil {
		return err
	}
	s.ensurePath()
	return nil
}

// initEnv sets PATH when the base has none (as docker build does) and
// the expansion variables from the config.
func (s *stageState) initEnv() {
	s.ensurePath()
	s.env = envListFrom(s.cfg.Config.Env)
}

func (s *stageState) ensurePath() {
	for _, kv := range s.cfg.Config.Env {
		if strings.HasPrefix(kv, "PATH=") {
			return
		}
	}
	s.cfg.Config.Env = append(s.cfg.Config.Env, "PATH="+defaultPath)
	if s.env != nil {
		s.env.set("PATH", defaultPath)
	}
}

// addTriggers parses ONBUILD triggers to run first in the stage; a RUN
// among them is refused now.
func (s *stageState) addTriggers(triggers []string, from string) error {
	for _, t := range triggers {
		cmd, err := parseTrigger(t)
		if err == nil {
			err = checkFrom(s.b.p.lex, cmd)
		}
		if err != nil {
			return locate(s.spec.Location, s.spec.SourceCode, fmt.Errorf("%w: ONBUILD trigger %q of %s: %v", ErrParse, t, from, err))
		}
		if _, ok := cmd.(*instructions.RunCommand); ok {
			return locate(s.spec.Location, s.spec.SourceCode, fmt.Errorf("%w: %s has the ONBUILD trigger %q, which runs a command in a container; "+
				"building on it needs a container runtime", ErrNeedsRuntime, from, t))
		}
		s.triggers = append(s.triggers, triggerCommand{cmd: cmd, from: from})
		s.b.steps++
	}
	return nil
}

// parseTrigger parses an ONBUILD trigger, as BuildKit does.
func parseTrigger(t string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(t))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("onbuild trigger should be a single expression")
	}
	return instructions.ParseCommand(res.AST.Children[0])
}
