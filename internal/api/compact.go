package api

import (
	"github.com/cmekd/cmekd/internal/documents"

	"encoding/json"
	"slices"
	"unicode/utf8"
)

// The ingest body's fast path. parseDocuments used to decode the body with encoding/json into raw
// messages (two scans: the decoder's and the unmarshaller's), compact each one (a third) and check
// UTF-8 and surrogates (two more): 60% of an ingest's CPU in the profile. compactDocuments does the
// common case, a well-formed {"documents":[{…},…]}, in one validating pass that writes the compacted
// documents as it goes. Anything else — any error, and anything unusual that the strict decoder
// treats in its own way (other spellings of the field, escapes of surrogates, deep nesting, limits
// exceeded) — makes it give up, and the strict path answers as it always did. What it accepts it
// returns byte for byte as that path would (TestCompactDocuments_MatchesStrictPath, FuzzParseDocuments).
//
// A name twice in one object makes it give up too: the strict path refuses the body. Names are
// compared as the text they stand for ("a" and "\u0061" are one name). Checking them here costs less
// than a validating pass of jsontext over the documents (BenchmarkParseDocuments).

// maxFastDepth is the deepest nesting the fast path follows; deeper bodies take the strict path.
const maxFastDepth = 512

// compactDocuments returns the documents of an ingest body, compacted, or false when the body must go
// the strict way.
func compactDocuments(raw []byte) ([]json.RawMessage, bool) { return compactDocumentsInto(raw, nil) }

// compactDocumentsInto is compactDocuments writing into buf (nil: a new buffer) the documents that
// had whitespace to remove, and stores the buffer back (grown). A document sent compact is not
// copied: it is a slice of raw, which must outlive it. The first document copied grows the buffer to
// len(raw) at once: compacted documents are never longer than the body, so they are all slices of
// that one buffer, which never moves after.
func compactDocumentsInto(raw []byte, buf *[]byte) ([]json.RawMessage, bool) {
	if !utf8.Valid(raw) {
		return nil, false
	}
	c := compactor{in: raw}
	if buf != nil {
		c.out = (*buf)[:0]
		defer func() { *buf = c.out }()
	}
	c.skip()
	if !c.take('{') {
		return nil, false
	}
	c.skip()
	if !c.takeString(`"documents"`) {
		return nil, false
	}
	c.skip()
	if !c.take(':') {
		return nil, false
	}
	c.skip()
	if !c.take('[') {
		return nil, false
	}
	// Room for as many documents as a body of this size usually holds (about 1 KiB each), at once.
	docs := make([]json.RawMessage, 0, min(documents.MaxDocuments, len(raw)>>10+1))
	for {
		c.skip()
		if c.i >= len(c.in) || c.in[c.i] != '{' || len(docs) == documents.MaxDocuments {
			return nil, false // an empty list, a non-object or too many: the strict path says which
		}
		from, start := c.i, len(c.out)
		c.mark, c.spaced = c.i, false
		if !c.object(1) || c.i-from > documents.MaxDocumentSize {
			return nil, false
		}
		if c.spaced {
			c.flush()
			docs = append(docs, c.out[start:len(c.out):len(c.out)])
		} else { // sent compact: as it is
			docs = append(docs, c.in[from:c.i:c.i])
		}
		if !c.next() {
			return nil, false
		}
		if c.done {
			break
		}
	}
	c.skip()
	if !c.take('}') {
		return nil, false
	}
	c.skip()
	return docs, c.i == len(c.in)
}

// next reads what follows a document: ',' before another, or ']' (done) after the last.
func (c *compactor) next() bool {
	c.skip()
	if c.take(']') {
		c.done = true
		return true
	}
	return c.take(',')
}

// compactor validates JSON from in and appends it to out without insignificant whitespace. It does not
// copy token by token: it copies each run of the input between two stretches of whitespace at once
// (from mark to where the whitespace starts), so that a document sent compact is one copy.
type compactor struct {
	in      []byte
	i       int
	mark    int // the start of the input not yet copied to out
	out     []byte
	escaped bool       // whether the last string read held an escape
	spaced  bool       // whether the document being read had whitespace inside it (and is copied)
	done    bool       // the list of documents is read
	names   []nameSpan // the names of the objects being read, innermost last
	text    []byte     // the unescaped text of names that hold escapes
}

// nameSpan is a member name of an object being read: in[from:to], or text[from:to] when it held an
// escape.
type nameSpan struct {
	from, to int
	escaped  bool
}

// manyNames is the member count past which an object's names are looked up in a map rather than
// compared one by one.
const manyNames = 32

// isSpace is JSON's insignificant whitespace.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// plain are the bytes a string may hold as they are: all but control characters, '"' and '\\'.
var plain = func() (t [256]bool) {
	for b := 0x20; b < 256; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// skip consumes whitespace outside the documents, where nothing is copied.
func (c *compactor) skip() {
	for c.i < len(c.in) && isSpace[c.in[c.i]] {
		c.i++
	}
}

// space consumes whitespace inside a document: what came before it is copied, it is not.
func (c *compactor) space() {
	if c.i >= len(c.in) || !isSpace[c.in[c.i]] {
		return
	}
	c.spaced = true
	c.flush()
	c.skip()
	c.mark = c.i
}

// flush copies the input from mark up to here.
func (c *compactor) flush() {
	if cap(c.out) < len(c.in) { // the first copy: room for them all, before any document is a slice of out
		c.out = slices.Grow(c.out, len(c.in)-len(c.out))
	}
	c.out = append(c.out, c.in[c.mark:c.i]...)
	c.mark = c.i
}

// take consumes b, outside the documents.
func (c *compactor) take(b byte) bool {
	if c.i < len(c.in) && c.in[c.i] == b {
		c.i++
		return true
	}
	return false
}

// takeString consumes s.
func (c *compactor) takeString(s string) bool {
	if len(c.in)-c.i >= len(s) && string(c.in[c.i:c.i+len(s)]) == s {
		c.i += len(s)
		return true
	}
	return false
}

// emit consumes b inside a document, where it is kept.
func (c *compactor) emit(b byte) bool { return c.take(b) }

func (c *compactor) value(depth int) bool {
	if c.i >= len(c.in) {
		return false
	}
	switch b := c.in[c.i]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		return c.string()
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || b >= '0' && b <= '9':
		return c.number()
	}
	return false
}

func (c *compactor) object(depth int) bool {
	base := len(c.names)
	var seen map[string]struct{}
	member := func() bool {
		from := c.i + 1
		if c.i >= len(c.in) || c.in[c.i] != '"' || !c.string() {
			return false
		}
		if !c.newName(base, from, c.i-1, &seen) {
			return false
		}
		c.space()
		if !c.emit(':') {
			return false
		}
		c.space()
		return c.value(depth)
	}
	if !c.container(depth, '{', '}', member) {
		return false
	}
	c.names = c.names[:base]
	if base == 0 {
		c.text = c.text[:0]
	}
	return true
}

// newName records the name in[from:to] of the object whose names start at names[base], and reports
// false when the object already has it.
func (c *compactor) newName(base, from, to int, seen *map[string]struct{}) bool {
	n := nameSpan{from: from, to: to}
	if c.escaped {
		n = nameSpan{from: len(c.text), escaped: true}
		c.text = unescape(c.text, c.in[from:to])
		n.to = len(c.text)
	}
	name := c.name(n)
	switch members := c.names[base:]; {
	case *seen != nil:
	case len(members) < manyNames:
		for _, m := range members {
			if m.to-m.from == len(name) && string(c.name(m)) == string(name) {
				return false
			}
		}
		c.names = append(c.names, n)
		return true
	default:
		*seen = make(map[string]struct{}, 2*manyNames)
		for _, m := range members {
			(*seen)[string(c.name(m))] = struct{}{}
		}
	}
	if _, dup := (*seen)[string(name)]; dup {
		return false
	}
	(*seen)[string(name)] = struct{}{}
	return true
}

// name is the text of a recorded name.
func (c *compactor) name(n nameSpan) []byte {
	if n.escaped {
		return c.text[n.from:n.to]
	}
	return c.in[n.from:n.to]
}

// unescape appends the text a string's contents s stand for to dst. s is valid (string accepted it),
// and holds no escape of a surrogate.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			dst = append(dst, s[i])
			continue
		}
		i++
		switch s[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+1)
			dst = utf8.AppendRune(dst, r)
			i += 4
		default: // '"', '\\', '/'
			dst = append(dst, s[i])
		}
	}
	return dst
}

func (c *compactor) array(depth int) bool {
	return c.container(depth, '[', ']', func() bool { return c.value(depth) })
}

// container compacts an object or an array at depth: opening, then members separated by commas, each
// compacted by member, then closing.
func (c *compactor) container(depth int, opening, closing byte, member func() bool) bool {
	if depth > maxFastDepth || !c.emit(opening) {
		return false
	}
	c.space()
	if c.emit(closing) {
		return true
	}
	for {
		c.space()
		if !member() {
			return false
		}
		c.space()
		if c.emit(closing) {
			return true
		}
		if !c.emit(',') {
			return false
		}
	}
}

// string copies a string as it is: the input is valid UTF-8 already. An escape of a UTF-16 surrogate
// gives up, for the strict path to judge whether it is half of a pair.
func (c *compactor) string() bool {
	c.i++ // the opening quote
	c.escaped = false
	for {
		for c.i < len(c.in) && plain[c.in[c.i]] {
			c.i++
		}
		if c.i >= len(c.in) {
			return false
		}
		switch c.in[c.i] {
		case '"':
			c.i++
			return true
		case '\\':
			if c.i+1 >= len(c.in) {
				return false
			}
			c.escaped = true
			switch c.in[c.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				c.i += 2
			case 'u':
				r, ok := hex4(c.in, c.i+2)
				if !ok || r >= 0xD800 && r <= 0xDFFF {
					return false
				}
				c.i += 6
			default:
				return false
			}
		default: // a control character
			return false
		}
	}
}

func (c *compactor) literal(s string) bool { return c.takeString(s) }

// number copies a number of JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *compactor) number() bool {
	c.take('-')
	switch {
	case c.take('0'):
	case c.digits() == 0:
		return false
	}
	if c.take('.') && c.digits() == 0 {
		return false
	}
	if c.take('e') || c.take('E') {
		if !c.take('+') {
			c.take('-')
		}
		if c.digits() == 0 {
			return false
		}
	}
	return true
}

// digits consumes a run of decimal digits and returns its length.
func (c *compactor) digits() int {
	start := c.i
	for c.i < len(c.in) && c.in[c.i] >= '0' && c.in[c.i] <= '9' {
		c.i++
	}
	return c.i - start
}
