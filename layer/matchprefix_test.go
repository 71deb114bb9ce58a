package layer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithMatchPrefix(t *testing.T) {
	ctx := t.TempDir()
	tree(t, ctx, "services/api/main.go", "services/api/debug.log", "services/api/keep.log",
		"services/api/node_modules/x/x.js", "services/api/src/a.go", "services/web/index.html")
	ignore := filepath.Join(ctx, ".dockerignore")
	require.NoError(t, os.WriteFile(ignore, []byte("services/api/node_modules\n**/*.log\n!services/api/keep.log\nservices/web\n"), 0o644))

	api := filepath.Join(ctx, "services/api")
	for _, tc := range []struct {
		name string
		opts []SourceOption
		want string
	}{
		{"ignore file of the context", []SourceOption{WithMatchPrefix("services/api"), WithIgnoreFile(ignore)},
			"keep.log main.go src/ src/a.go"},
		{"exclude written for the context", []SourceOption{WithMatchPrefix("/services/api/"), WithExclude("services/api/src")},
			"debug.log keep.log main.go node_modules/ node_modules/x/ node_modules/x/x.js"},
		{"include written for the context", []SourceOption{WithMatchPrefix("services/api"), WithInclude("services/*/src")},
			"src/ src/a.go"},
		{"without the prefix only **/ patterns match", []SourceOption{WithIgnoreFile(ignore)},
			"main.go node_modules/ node_modules/x/ node_modules/x/x.js src/ src/a.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(context.Background(), []Source{Dir(api, tc.opts...)})
			require.NoError(t, err)
			var names []string
			for _, g := range entries(t, l) {
				names = append(names, g.Name)
			}
			assert.Equal(t, tc.want, strings.Join(names, " "), "entries of Dir(services/api) with %s", tc.name)
		})
	}
	_, err := New(context.Background(), []Source{Dir(api, WithMatchPrefix("/"))})
	assert.ErrorIs(t, err, ErrOption, "WithMatchPrefix(\"/\")")
}
