package dockerfile

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const dockerPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// history returns the created_by texts after the first skip entries, with
// "(empty)" appended to empty_layer ones.
func history(cf *v1.ConfigFile, skip int) []string {
	var out []string
	for _, h := range dockerHistory(cf)[skip:] {
		s := h.CreatedBy
		if h.EmptyLayer {
			s += " (empty)"
		}
		out = append(out, s)
	}
	return out
}

// emptyLayerHistory is the history entry of the empty layer image.Build
// gives an image that would have no layer (the image spec's schema wants
// one), which docker build does not add.
const emptyLayerHistory = "stevedore: empty layer (an image has at least one)"

// dockerHistory is cf's history without that entry, checked to be the
// image's only layer when it is there.
func dockerHistory(cf *v1.ConfigFile) []v1.History {
	h := cf.History
	if n := len(h); n > 0 && h[n-1].CreatedBy == emptyLayerHistory {
		if len(cf.RootFS.DiffIDs) != 1 {
			panic("the empty layer of an image with other layers")
		}
		return h[:n-1]
	}
	return h
}

// TestMetadataInstructions: each instruction's config edit and history
// entry, as BuildKit's dockerfile2llb writes them.
func TestMetadataInstructions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dockerfile string
		opts       []Option
		check      func(t *testing.T, c *v1.Config)
		history    []string
	}{{
		name:       "ENV forms, expansion with the previous values, replace in place",
		dockerfile: "FROM scratch\nENV A=1\nENV B 2\nENV C=\"x y\" D=$A E=${A}0 F=${UNSET:-dflt} G=${A:+set}\nENV A=3\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{dockerPath, "A=3", "B=2", "C=x y", "D=1", "E=10", "F=dflt", "G=set"}, c.Env, "Env")
		},
		history: []string{"ENV A=1 (empty)", "ENV B=2 (empty)", "ENV C=x y D=1 E=10 F=dflt G=set (empty)", "ENV A=3 (empty)"},
	}, {
		name:       "LABEL",
		dockerfile: "FROM scratch\nLABEL a=1 \"b c\"=\"d e\"\nLABEL a=2\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, map[string]string{"a": "2", "b c": "d e"}, c.Labels, "Labels")
		},
		history: []string{"LABEL a=1 b c=d e (empty)", "LABEL a=2 (empty)"},
	}, {
		name:       "CMD exec and shell forms; SHELL",
		dockerfile: "FROM scratch\nCMD [\"node\", \"app.js\"]\nCMD node app.js\nSHELL [\"/bin/bash\", \"-eu\", \"-c\"]\nENTRYPOINT exec server\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{"/bin/sh", "-c", "node app.js"}, c.Cmd, "Cmd (CMD before ENTRYPOINT in the stage is kept)")
			assert.Equal(t, []string{"/bin/bash", "-eu", "-c", "exec server"}, c.Entrypoint, "Entrypoint through SHELL")
			assert.Equal(t, []string{"/bin/bash", "-eu", "-c"}, c.Shell, "Shell")
			assert.True(t, c.ArgsEscaped, "ArgsEscaped, as BuildKit sets it for CMD")
		},
		history: []string{`CMD ["node" "app.js"] (empty)`, `CMD ["/bin/sh" "-c" "node app.js"] (empty)`,
			"SHELL [/bin/bash -eu -c] (empty)", `ENTRYPOINT ["/bin/bash" "-eu" "-c" "exec server"] (empty)`},
	}, {
		name:       "ENTRYPOINT clears the CMD of the base stage",
		dockerfile: "FROM scratch AS base\nCMD [\"x\"]\nFROM base\nENTRYPOINT [\"/app\"]\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Nil(t, c.Cmd, "Cmd")
			assert.Equal(t, []string{"/app"}, c.Entrypoint, "Entrypoint")
		},
		history: []string{`CMD ["x"] (empty)`, `ENTRYPOINT ["/app"] (empty)`},
	}, {
		name:       "EXPOSE: ranges, protocols, variables",
		dockerfile: "FROM scratch\nENV P=9000\nEXPOSE 80 443/udp 8000-8002 ${P}/TCP 53/sctp\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, map[string]struct{}{"80/tcp": {}, "443/udp": {}, "8000/tcp": {}, "8001/tcp": {}, "8002/tcp": {}, "9000/tcp": {}, "53/sctp": {}}, c.ExposedPorts, "ExposedPorts")
		},
		// The instructions package sorts the words before expansion.
		history: []string{"ENV P=9000 (empty)", "EXPOSE [9000/tcp 443/udp 53/sctp 80/tcp 8000/tcp 8001/tcp 8002/tcp] (empty)"},
	}, {
		name:       "USER, VOLUME (JSON and plain), STOPSIGNAL",
		dockerfile: "FROM scratch\nUSER app:staff\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /cache /tmp/x\nSTOPSIGNAL TERM\nSTOPSIGNAL SIGRTMIN+3\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, "app:staff", c.User, "User")
			assert.Equal(t, map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}, "/tmp/x": {}}, c.Volumes, "Volumes")
			assert.Equal(t, "SIGRTMIN+3", c.StopSignal, "StopSignal")
		},
		history: []string{"USER app:staff (empty)", "VOLUME [/data /logs] (empty)", "VOLUME [/cache /tmp/x] (empty)",
			"STOPSIGNAL TERM (empty)", "STOPSIGNAL SIGRTMIN+3 (empty)"},
	}, {
		name:       "HEALTHCHECK with options, then NONE",
		dockerfile: "FROM scratch AS a\nHEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=2 CMD curl -f http://localhost/ || exit 1\nFROM scratch\nHEALTHCHECK NONE\n",
		opts:       []Option{WithTarget("a")},
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"},
				Interval: 30 * time.Second, Timeout: 3 * time.Second, StartPeriod: 5 * time.Second, Retries: 2}, c.Healthcheck, "Healthcheck")
		},
		// BuildKit's text: %q of docker's HealthcheckConfig.
		history: []string{`HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "30s" "3s" "5s" "0s" '\x02'} (empty)`},
	}, {
		name:       "HEALTHCHECK NONE",
		dockerfile: "FROM scratch\nHEALTHCHECK NONE\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{"NONE"}, c.Healthcheck.Test, "Healthcheck.Test")
		},
		history: []string{`HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" '\x00'} (empty)`},
	}, {
		name:       "ONBUILD is recorded in the config, not in history; MAINTAINER",
		dockerfile: "FROM scratch\nMAINTAINER Jane <jane@example.com>\nONBUILD COPY . /app\nONBUILD ENV X=1\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{"COPY . /app", "ENV X=1"}, c.OnBuild, "OnBuild")
		},
		history: []string{"MAINTAINER Jane <jane@example.com> (empty)"},
	}, {
		name:       "ARG: default, build argument, before FROM, predefined; not in the config",
		dockerfile: "ARG BASE=scratch\nARG V=meta\nFROM $BASE\nARG V\nARG W=def\nARG X=${W}-x\nARG TARGETARCH\nARG TARGETPLATFORM\nENV V=$V W=$W X=$X A=$TARGETARCH P=$TARGETPLATFORM\n",
		opts:       []Option{WithBuildArg("W", "given"), WithPlatforms("linux/arm/v7")},
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{dockerPath, "V=meta", "W=given", "X=given-x", "A=arm", "P=linux/arm/v7"}, c.Env, "Env")
		},
		history: []string{"ARG V=meta (empty)", "ARG W=given (empty)", "ARG X=given-x (empty)", "ARG TARGETARCH=arm (empty)",
			"ARG TARGETPLATFORM=linux/arm/v7 (empty)", "ENV V=meta W=given X=given-x A=arm P=linux/arm/v7 (empty)"},
	}, {
		name:       "predefined arguments are not set unless declared; BUILDPLATFORM",
		dockerfile: "FROM scratch\nENV A=${TARGETARCH:-unset}\nARG BUILDPLATFORM\nENV B=$BUILDPLATFORM\n",
		opts:       []Option{WithBuildPlatform("linux/s390x")},
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{dockerPath, "A=unset", "B=linux/s390x"}, c.Env, "Env")
		},
		history: []string{"ENV A=unset (empty)", "ARG BUILDPLATFORM=linux/s390x (empty)", "ENV B=linux/s390x (empty)"},
	}, {
		name:       "escape directive and line continuations",
		dockerfile: "# escape=`\nFROM scratch\nENV A=1 `\n    B=2\nLABEL path=C:\\dir\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{dockerPath, "A=1", "B=2"}, c.Env, "Env")
			assert.Equal(t, map[string]string{"path": `C:\dir`}, c.Labels, "Labels")
		},
		history: []string{"ENV A=1 B=2 (empty)", `LABEL path=C:\dir (empty)`},
	}, {
		name:       "scratch: PATH and working directory as docker build sets them",
		dockerfile: "FROM scratch\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, []string{dockerPath}, c.Env, "Env")
			assert.Equal(t, "/", c.WorkingDir, "WorkingDir")
		},
	}, {
		name:       "WORKDIR chain: relative, .., variables; / adds no layer",
		dockerfile: "FROM scratch\nENV D=c\nWORKDIR /a\nWORKDIR b\nWORKDIR ../$D\nWORKDIR /\n",
		check: func(t *testing.T, c *v1.Config) {
			assert.Equal(t, "/", c.WorkingDir, "WorkingDir")
		},
		history: []string{"ENV D=c (empty)", "WORKDIR /a", "WORKDIR /a/b", "WORKDIR /a/c", "WORKDIR / (empty)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustBuild(t, t.TempDir(), tc.dockerfile, tc.opts...)
			cf := configOf(t, img)
			if tc.check != nil {
				tc.check(t, &cf.Config)
			}
			assert.Equal(t, tc.history, history(cf, 0), "history created_by")
			for _, h := range dockerHistory(cf) {
				assert.Equal(t, historyComment, h.Comment, "history comment of %q", h.CreatedBy)
			}
			if strings.Contains(tc.dockerfile, "MAINTAINER") {
				assert.Equal(t, "Jane <jane@example.com>", cf.Author, "Author (MAINTAINER)")
			}
		})
	}
}

func TestWorkdirLayers(t *testing.T) {
	base := debianish(t, "linux/amd64")
	img := mustBuild(t, t.TempDir(), "FROM base\nWORKDIR /srv/app\nUSER node\nWORKDIR data\nWORKDIR /tmp\nUSER app:root\nWORKDIR /lib/extra\n",
		WithResolver(resolverOf(map[string]v1.Image{"base": base})))
	fs := files(t, img)
	assert.Equal(t, "srv: 5 755 0:0\nsrv/app: 5 755 0:0\nsrv/app/data: 5 755 1000:1000\n", listing(fs, "srv"),
		"WORKDIR creates missing directories, owned by USER (resolved in /etc/passwd)")
	assert.Equal(t, "tmp: 5 1777 0:0\n", listing(fs, "tmp"), "an existing directory is left alone")
	assert.Equal(t, "usr/lib/extra: 5 755 1001:0\n", listing(fs, "usr/lib/extra"), "created through the base's /lib -> usr/lib")
	assert.Equal(t, "lib: 2 777 0:0 -> usr/lib\n", listing(fs, "lib"), "the base's symlink survives")
	cf := configOf(t, img)
	assert.Equal(t, "/lib/extra", cf.Config.WorkingDir, "WorkingDir")
	layers, err := img.Layers()
	require.NoError(t, err)
	assert.Len(t, layers, 5, "base layer + one per WORKDIR (an existing directory gives an empty layer, as BuildKit's)")
}
