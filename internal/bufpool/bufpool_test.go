package bufpool_test

import (
	"bytes"
	"testing"

	"github.com/cmekd/cmekd/internal/bufpool"
)

// TestPool_WipesWhatItTakesBack: a buffer handed back holds zeros over its whole capacity, and the
// next Get starts empty.
func TestPool_WipesWhatItTakesBack(t *testing.T) {
	p := bufpool.New(1 << 10)
	b := p.Get()
	*b = append(*b, "a secret document"...)
	held := (*b)[:cap(*b)]
	p.Put(b)
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatalf("a returned buffer still holds %q", held)
	}
	if got := p.Get(); len(*got) != 0 {
		t.Fatalf("Get lent a buffer of length %d", len(*got))
	}
}

// TestPool_DropsBuffersPastItsBound: a buffer grown past the bound is wiped but not kept, so one
// unusually large request does not pin its memory.
func TestPool_DropsBuffersPastItsBound(t *testing.T) {
	p := bufpool.New(16)
	b := p.Get()
	*b = append(make([]byte, 0, 64), "a secret document"...)
	held := (*b)[:cap(*b)]
	p.Put(b)
	if *b != nil {
		t.Fatalf("a buffer past the bound was kept: cap %d", cap(*b))
	}
	if !bytes.Equal(held, make([]byte, len(held))) {
		t.Fatalf("a dropped buffer still holds %q", held)
	}
}
