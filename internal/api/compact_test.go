package api

import (
	"github.com/cmekd/cmekd/internal/api/respond"
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/domain"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// sameAsStrict fails unless the fast path either gives up on raw or returns exactly what the strict
// path returns.
func sameAsStrict(t *testing.T, raw []byte) {
	t.Helper()
	fast, ok := compactDocuments(raw)
	if !ok {
		return
	}
	strict, err := parseDocumentsStrictly(raw)
	if err != nil {
		t.Fatalf("fast path accepted what the strict path refuses (%v): %q", err, raw)
	}
	if !reflect.DeepEqual(fast, strict) {
		t.Fatalf("fast path: %q\nstrict path: %q\nbody: %q", fast, strict, raw)
	}
}

// TestCompactDocuments_MatchesStrictPath: the documents stored are byte for byte what the strict path
// (encoding/json decoding and json.Compact) made of the same bodies, and the fast path takes the
// bodies clients send.
func TestCompactDocuments_MatchesStrictPath(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var bodies []string
	for i := range 200 {
		docs := make([]any, 1+r.IntN(20))
		for k := range docs {
			docs[k] = randomObject(r, 0)
		}
		var b []byte
		switch i % 3 {
		case 0:
			b, _ = json.Marshal(map[string]any{"documents": docs})
		case 1:
			b, _ = json.MarshalIndent(map[string]any{"documents": docs}, " ", "\t")
		default:
			b, _ = json.MarshalIndent(map[string]any{"documents": docs}, "", "   ")
			b = append([]byte("\r\n "), append(b, " \n"...)...)
		}
		bodies = append(bodies, string(b))
	}
	taken := 0
	for _, b := range bodies {
		if _, ok := compactDocuments([]byte(b)); ok {
			taken++
		}
		sameAsStrict(t, []byte(b))
	}
	if taken != len(bodies) {
		t.Errorf("the fast path took %d of %d well-formed bodies", taken, len(bodies))
	}
	// Bodies the fast path must give up on, or take exactly as the strict path does.
	for _, b := range []string{
		`{"documents":[{"a":"\ud83d\ude00"}]}`, `{"documents":[{"a":"\ud800"}]}`, `{"documents":[{"a":"\u00e9\n\"\\\/\b\f\r\t"}]}`,
		`{"documents":[{"n":-0.5e+10,"m":0,"o":1E-3,"p":-12}]}`, `{"documents":[{"n":01}]}`, `{"documents":[{"n":1.}]}`,
		`{"documents":[{"n":-}]}`, `{"documents":[{"n":.5}]}`, `{"documents":[{"a":tru}]}`, `{"documents":[{"a":nul}]}`,
		`{"documents":[{"a":[1,2,]}]}`, `{"documents":[{"a":1,}]}`, `{"documents":[{,}]}`, `{"documents":[{}]}`,
		`{"documents":[{}],}`, `{"documents":[{}]}}`, `{"documents":[{}]}]`, `{"documents":[{}]} x`, `{"documents":[{}],"documents":[{}]}`,
		`{"Documents":[{}]}`, `{"documents":[]}`, `{"documents":[1]}`, `{"documents":[{"a":"` + "\x01" + `"}]}`,
		`{"documents":[{"a":"` + "\xff" + `"}]}`, `{"documents":[{"a":"unterminated}]}`, `{"documents":[{"a":1}` + strings.Repeat(",{}", documents.MaxDocuments) + `]}`,
		`{"documents":[` + strings.Repeat(`{"a":`, 600) + `1` + strings.Repeat(`}`, 600) + `]}`,
		`{"documents":[{"big":"` + strings.Repeat("x", documents.MaxDocumentSize) + `"}]}`,
		` { "documents" : [ { "a" : [ 1 , { "b" : null } , true , false ] } , { } ] } `,
		`{"documents":[{"a":1,"a":1}]}`, `{"documents":[{"a":{"b":1,"c":{},"b":2}}]}`, `{"documents":[{"a":1,"\u0061":2}]}`,
		`{"documents":[{"a":[{"x":1},{"x":1}],"b":{"x":{"x":1}}}]}`, `{"documents":[{"\n":1,"\u000a":2}]}`,
	} {
		sameAsStrict(t, []byte(b))
	}
}

// TestParseDocuments_RefusesDuplicateNames: a name twice in one object of a document, however deep,
// spelled the same or with escapes, and however many members the object has, is refused with 400
// malformed_request; the same name in different objects is not a duplicate.
func TestParseDocuments_RefusesDuplicateNames(t *testing.T) {
	many := func(extra string) string {
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		return `{"documents":[{` + b.String() + extra + `}]}`
	}
	for _, b := range []string{
		`{"documents":[{"a":1,"a":1}]}`, `{"documents":[{"a":{"b":1,"c":{},"b":2}}]}`, `{"documents":[{"a":1,"\u0061":2}]}`,
		`{"documents":[ { "x" : [ { "y" : 1 , "y" : 2 } ] } ]}`, `{"documents":[{"\n":1,"\u000a":2}]}`, `{"documents":[{"\/":1,"/":2}]}`,
		`{"documents":[{"é":1,"\u00e9":2}]}`, many(`"k57":0`), many(`"k\u0035\u0037":0`),
		`{"documents":[{"a":1}],"documents":[{"a":1}]}`,
	} {
		_, err := parseDocuments([]byte(b))
		var de *domain.Error
		if !errors.As(err, &de) || respond.Status(de.Kind) != 400 || de.Code != domain.CodeMalformedRequest {
			t.Errorf("%s: %v, want 400 %s", b, err, domain.CodeMalformedRequest)
		}
	}
	for _, b := range []string{
		`{"documents":[{"a":[{"x":1},{"x":1}],"b":{"x":{"x":1}}},{"a":1}]}`, `{"documents":[{"a":1,"A":2,"a ":3}]}`, many(`"k100":0`),
	} {
		if _, ok := compactDocuments([]byte(b)); !ok {
			t.Errorf("the fast path gave up on %s", b)
		}
		if _, err := parseDocuments([]byte(b)); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

// randomObject is a JSON object of random shape, with text that needs escaping and non-ASCII text.
func randomObject(r *rand.Rand, depth int) map[string]any {
	words := []string{"plain", "naïve café", "注文番号", "🙂", `"quoted"`, `back\slash`, "tab\tand\nnewline", "<b>&</b>", "\u2028", ""}
	m := map[string]any{}
	for i := range r.IntN(8) {
		key := fmt.Sprintf("%s_%d", words[r.IntN(len(words))], i)
		switch r.IntN(8) {
		case 0:
			m[key] = words[r.IntN(len(words))]
		case 1:
			m[key] = r.Float64() * 1e6
		case 2:
			m[key] = -r.Int64()
		case 3:
			m[key] = r.IntN(2) == 0
		case 4:
			m[key] = nil
		case 5:
			if depth < 4 {
				m[key] = randomObject(r, depth+1)
			}
		case 6:
			if depth < 4 {
				m[key] = []any{randomObject(r, depth+1), 1, "x", []any{}, map[string]any{}}
			}
		default:
			m[key] = 1e-7 * float64(r.IntN(100))
		}
	}
	return m
}

func BenchmarkParseDocuments(b *testing.B) {
	raw := benchBody()
	for _, p := range []struct {
		name  string
		parse func([]byte) ([]json.RawMessage, error)
	}{{"fast", parseDocuments}, {"strict", parseDocumentsStrictly}} {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := p.parse(bytes.Clone(raw)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchBody is the body BenchmarkParseDocuments parses: 100 random documents.
func benchBody() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]any, 100)
	for k := range docs {
		docs[k] = randomObject(r, 0)
	}
	raw, _ := json.Marshal(map[string]any{"documents": docs})
	return raw
}
