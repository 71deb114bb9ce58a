package option

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

type settings struct{ seen []int }

type opt func(*settings) error

func mark(i int) opt {
	return func(s *settings) error {
		s.seen = append(s.seen, i)
		return nil
	}
}

func TestApply(t *testing.T) {
	var s settings
	assert.NoError(t, Apply(&s, []opt{mark(1), nil, mark(2)}))
	assert.Equal(t, []int{1, 2}, s.seen, "options in order, nil skipped")

	bad := errors.New("bad")
	s = settings{}
	err := Apply(&s, []opt{mark(1), func(*settings) error { return bad }, mark(3)})
	assert.Same(t, bad, err, "the option's error, unwrapped")
	assert.Equal(t, []int{1}, s.seen, "nothing applied after the failing option")
}
