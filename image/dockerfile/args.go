package dockerfile

import (
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// envList is an ordered KEY=VALUE list: the variables an instruction's
// words are expanded with (shell.EnvGetter).
type envList struct {
	keys []string
	vals map[string]string
}

var _ shell.EnvGetter = (*envList)(nil)

func newEnvList() *envList { return &envList{vals: map[string]string{}} }

// envListFrom reads KEY=VALUE entries (a config's Env).
func envListFrom(env []string) *envList {
	e := newEnvList()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		e.set(k, v)
	}
	return e
}

func (e *envList) Get(key string) (string, bool) {
	v, ok := e.vals[key]
	return v, ok
}

func (e *envList) Keys() []string { return slices.Clone(e.keys) }

// set adds key or replaces its value, keeping its place.
func (e *envList) set(key, value string) {
	if _, ok := e.vals[key]; !ok {
		e.keys = append(e.keys, key)
	}
	e.vals[key] = value
}

func (e *envList) clone() *envList {
	c := &envList{keys: slices.Clone(e.keys), vals: make(map[string]string, len(e.vals))}
	for k, v := range e.vals {
		c.vals[k] = v
	}
	return c
}

// platformString is os/arch[/variant], as TARGETPLATFORM holds it.
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// predefinedArgs are the arguments docker build defines for every build
// (BuildKit's defaultArgs), with build arguments overriding them.
func predefinedArgs(target, build v1.Platform, stage string, buildArgs map[string]string) *envList {
	if stage == "" {
		stage = "default"
	}
	e := newEnvList()
	for _, kv := range [...][2]string{
		{"BUILDPLATFORM", platformString(build)},
		{"BUILDOS", build.OS},
		{"BUILDOSVERSION", build.OSVersion},
		{"BUILDARCH", build.Architecture},
		{"BUILDVARIANT", build.Variant},
		{"TARGETPLATFORM", platformString(target)},
		{"TARGETOS", target.OS},
		{"TARGETOSVERSION", target.OSVersion},
		{"TARGETARCH", target.Architecture},
		{"TARGETVARIANT", target.Variant},
		{"TARGETSTAGE", stage},
	} {
		v := kv[1]
		if ov, ok := buildArgs[kv[0]]; ok {
			v = ov
		}
		e.set(kv[0], v)
	}
	return e
}

// metaArgs adds the ARGs before the first FROM to global: a build
// argument's value, else the default expanded with what precedes it.
func metaArgs(global *envList, lex *shell.Lex, cmds []instructions.ArgCommand, buildArgs map[string]string) (*envList, error) {
	global = global.clone()
	for _, cmd := range cmds {
		for _, kv := range cmd.Args {
			if v, ok := buildArgs[kv.Key]; ok {
				global.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := lex.ProcessWord(*kv.Value, global)
			if err != nil {
				return nil, locate(cmd.Location(), cmd.String(), err)
			}
			global.set(kv.Key, v)
		}
	}
	return global, nil
}
