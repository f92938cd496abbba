package webhooks

import "github.com/cmekd/cmekd/internal/store"

// horizon is how far the audit trail is final: no event with a seq at or below safe can still appear.
//
// A seq is drawn when its row is inserted, but rows become visible when their transactions commit,
// in another order: a reader that saw seq 8 may not yet see seq 7, and a cursor moved past 8 would
// skip 7 for good. So the dispatcher delivers only up to the horizon, which moves two ways:
//   - through seqs that are all visible, one after the other (the usual case, at once);
//   - past a gap, once every transaction that could hold a seq in it has ended. Every seq up to the
//     highest one a snapshot sees was drawn by a transaction whose id is below that snapshot's xmax
//     (InsertEvent takes its transaction id before its seq), so once the oldest running transaction
//     (xmin) is at or past that xmax, every seq up to it is final: committed, or rolled back for good.
type horizon struct {
	safe int64
	// A pending checkpoint: seq upTo becomes final once xmin reaches xmax.
	pending    bool
	upTo, xmax int64
}

// advance moves the horizon with what one snapshot shows (seqs above safe, in order).
func (h *horizon) advance(s store.Horizon) {
	h.walk(s.Seqs)
	if h.pending && h.xmax <= s.XMin {
		h.safe, h.pending = max(h.safe, h.upTo), false
	}
	if !h.pending && s.MaxSeq > h.safe {
		h.pending, h.upTo, h.xmax = true, s.MaxSeq, s.XMax
	}
}

// walk moves safe through seqs that follow it without a gap.
func (h *horizon) walk(seqs []int64) {
	for _, s := range seqs {
		switch {
		case s <= h.safe:
		case s == h.safe+1:
			h.safe = s
		default:
			return
		}
	}
}
