// Package bufpool lends byte buffers for the documents path, so that a request that reads or writes a
// page or a batch of documents allocates no buffer of its size once the server is warm. A buffer is
// wiped before it goes back: what it held (plaintext documents, request bodies) is never handed to
// the next borrower, nor left lying in the heap for longer than a request.
package bufpool

import "sync"

// Pool lends buffers; one that grew past its bound is wiped and goes to the collector instead of back.
type Pool struct {
	pool sync.Pool
	max  int
}

// New returns a Pool that keeps buffers of up to max bytes of capacity.
func New(max int) *Pool {
	return &Pool{pool: sync.Pool{New: func() any { return new([]byte) }}, max: max}
}

// Get lends a buffer of length 0; the caller may grow it and must store what it grew back in *b
// before Put.
func (p *Pool) Get() *[]byte {
	b := p.pool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// Put wipes the buffer and takes it back. b must not be used after.
func (p *Pool) Put(b *[]byte) {
	if b == nil {
		return
	}
	buf := *b
	clear(buf[:cap(buf)])
	if cap(buf) > p.max {
		*b = nil
		return
	}
	*b = buf[:0]
	p.pool.Put(b)
}
