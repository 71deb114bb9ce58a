package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// When CLI_TEST_MAIN is set, the test binary is a program calling Main.
func TestMain(m *testing.M) {
	if mode := os.Getenv("CLI_TEST_MAIN"); mode != "" {
		Main("prog", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("prog", flag.ContinueOnError)
			if err := Parse(fs, args, stderr); err != nil {
				return err
			}
			switch mode {
			case "ok":
				fmt.Fprintln(stdout, "x@sha256:0")
				return nil
			default:
				return errors.Join(errors.New("pushing x: refused"), errors.New("second\nthird"))
			}
		})
	}
	os.Exit(m.Run())
}

func TestMainExit(t *testing.T) {
	tests := []struct {
		mode       string
		args       []string
		code       int
		stdout     string
		stderrLine string
	}{
		{"ok", nil, 0, "x@sha256:0\n", ""},
		{"fail", nil, 1, "", "prog: pushing x: refused; second; third\n"},
		{"ok", []string{"-h"}, 0, "", ""},
		{"ok", []string{"-nope"}, 2, "", ""},
		{"ok", []string{"extra"}, 1, "", "prog: unexpected argument \"extra\": prog takes only flags (see -h)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.mode+strings.Join(tt.args, ""), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), "CLI_TEST_MAIN="+tt.mode)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.code, code, "exit code (stderr %q)", stderr.String())
			assert.Equal(t, tt.stdout, stdout.String(), "stdout")
			if tt.stderrLine != "" {
				assert.Equal(t, tt.stderrLine, stderr.String(), "stderr")
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("plain"), "plain"},
		{errors.New("a\nb\r\nc\n"), "a; b; c"},
		{errors.Join(errors.New("x"), errors.New("y")), "x; y"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, OneLine(tt.err), "OneLine(%q)", tt.err)
	}
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	img, err := image.Build(ctx, nil, image.WithCmd("/x"))
	require.NoError(t, err)
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"))
	require.NoError(t, err)
	srv := registrytest.New(t)
	for _, a := range []image.Artifact{img, idx} {
		h, err := a.Digest()
		require.NoError(t, err)
		ref, err := Publish(ctx, a, srv.Ref("p/q:r"), "", "")
		if assert.NoError(t, err, "Publish(push)") {
			assert.Equal(t, srv.Ref("p/q")+"@"+h.String(), ref, "Publish(push)")
		}
		file := filepath.Join(t.TempDir(), "out.tar")
		ref, err = Publish(ctx, a, "", file, "latest")
		if assert.NoError(t, err, "Publish(file)") {
			assert.Equal(t, file+"@"+h.String(), ref, "Publish(file)")
		}
	}
	got, err := registry.PullIndex(ctx, srv.Ref("p/q:r"))
	require.NoError(t, err)
	assert.NoError(t, validate.Index(got), "validate.Index")
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	err := WriteFiles(dir, map[string]string{"a/b.txt": "b", "bin/run": "#!/bin/sh\n", "empty/": "", "link": "-> a/b.txt"})
	require.NoError(t, err, "WriteFiles")
	for name, want := range map[string]os.FileMode{"a/b.txt": 0o644, "bin/run": 0o755, "empty": os.ModeDir | 0o755, "a": os.ModeDir | 0o755, "link": os.ModeSymlink} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		require.NoError(t, err)
		got := fi.Mode()
		if want&os.ModeSymlink != 0 {
			got &= os.ModeSymlink
		}
		assert.Equal(t, want, got, "mode of %s", name)
	}
	target, err := os.Readlink(filepath.Join(dir, "link"))
	require.NoError(t, err)
	assert.Equal(t, "a/b.txt", target, "target of link")
}

func TestDemoDir(t *testing.T) {
	dir, remove, err := DemoDir("cli-test-", func(d string) error {
		return os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644)
	})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(filepath.Base(dir), "cli-test-"), "DemoDir's directory %s, named after its prefix", dir)
	assert.FileExists(t, filepath.Join(dir, "f"), "what write wrote")
	remove()
	assert.NoDirExists(t, dir, "after remove")

	boom := errors.New("boom")
	var failed string
	_, _, err = DemoDir("cli-test-", func(d string) error { failed = d; return boom })
	assert.ErrorIs(t, err, boom, "DemoDir with a failing write")
	require.NotEmpty(t, failed)
	assert.NoDirExists(t, failed, "the directory of a failed write")
}
