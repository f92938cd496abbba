package api

import (
	"github.com/cmekd/cmekd/internal/documents"
	"github.com/cmekd/cmekd/internal/provider"
	awsprovider "github.com/cmekd/cmekd/internal/provider/aws"

	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/cmekd/cmekd/internal/api/respond"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/orgs"
)

// clientError checks that err is a domain error a client caused: one of the statuses the API gives
// for bad input, with a code and a message.
func clientError(t *testing.T, err error, want ...int) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("%T %v is not a domain error: it would answer 500", err, err)
	}
	for _, s := range want {
		if respond.Status(de.Kind) == s {
			if de.Code == "" || de.Message == "" {
				t.Fatalf("error without code or message: %+v", de)
			}
			return
		}
	}
	t.Fatalf("status %d (%s), want one of %v", respond.Status(de.Kind), de.Code, want)
}

// FuzzParseDocuments feeds arbitrary bodies to the ingest parser: it never panics, refuses with a
// 400, 413 or 422, and what it accepts is 1 to 1000 compact JSON objects within the size limit.
func FuzzParseDocuments(f *testing.F) {
	for _, s := range []string{
		`{"documents":[{"a":1}]}`,
		`{"documents":[{"a":{"b":[1,2,3]}},{"c":"ünïcode"},{}]}`,
		`{"documents":[]}`, `{"documents":null}`, `{}`, `[]`, `{"documents":[1]}`, `{"documents":["x"]}`,
		`{"documents":[{"a":1}],"extra":true}`, `{"documents":[{"a":1}]} {}`, `{"documents":[{"a":`,
		`{"documents":[  { "spaced" : [ 1 , 2 ] }  ]}`, `{"documents":[{"html":"<b>&</b>"}]}`,
		`{"documents":{"a":1}}`, `{"DOCUMENTS":[{"a":1}]}`,
		`{"documents":[{"a":1,"a":2}]}`, `{"documents":[{"a":{"b":1,"\u0062":2}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		sameAsStrict(t, raw)
		docs, err := parseDocuments(raw)
		if err != nil {
			clientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
			return
		}
		if len(docs) < 1 || len(docs) > documents.MaxDocuments {
			t.Fatalf("accepted %d documents", len(docs))
		}
		for i, d := range docs {
			var obj map[string]any
			if err := json.Unmarshal(d, &obj); err != nil || obj == nil {
				t.Fatalf("document %d is not a JSON object: %q", i, d)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, d); err != nil || !bytes.Equal(c.Bytes(), d) {
				t.Fatalf("document %d is not compact: %q", i, d)
			}
			if len(d) > documents.MaxDocumentSize {
				t.Fatalf("document %d has %d bytes", i, len(d))
			}
		}
	})
}

// FuzzCreateOrgRequest feeds arbitrary bodies to the organisation-create decoding and validation: it
// never panics, refuses with a 400 or 422, and what it accepts names a served region and, for
// customer_managed, a key ARN in that region.
func FuzzCreateOrgRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"Acme","region":"us-west-2"}`,
		`{"name":"Acme","region":"us-west-2","encryption":{"mode":"provider_managed"}}`,
		`{"name":"Acme","region":"us-west-2","encryption":{"mode":"customer_managed","key_arn":"arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}`,
		`{"name":"Acme","region":"us-west-2","encryption":{"mode":"customer_managed","key_arn":"arn:aws:kms:us-west-2:111122223333:alias/prod"}}`,
		`{"name":"Acme","region":"us-west-2","encryption":{"mode":"customer_managed","key_arn":"1234abcd-12ab-34cd-56ef-1234567890ab"}}`,
		`{"name":"Acme","region":"eu-west-1","encryption":{"mode":"customer_managed","key_arn":"arn:aws:kms:us-west-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"}}`,
		`{"name":"","region":"us-west-2"}`, `{"name":7}`, `{"name":"a\u0000b","region":"x"}`, `{`, `null`,
		`{"name":"Acme","region":"us-west-2","encryption":null}`, `{"name":"Acme","region":"us-west-2","plan":"x"}`,
	} {
		f.Add([]byte(s))
	}
	rules := keyarn.Rules{Regions: []string{"us-west-2", "us-east-1", "eu-west-1"}}
	svc := orgs.New(orgs.Config{Rules: rules, Providers: provider.NewSet(false, awsprovider.New(awsprovider.Config{Rules: rules}))})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req createOrgRequest
		if err := decodeJSON(raw, &req); err != nil {
			clientError(t, err, http.StatusBadRequest)
			return
		}
		o, err := svc.Validate(req.input())
		if err != nil {
			clientError(t, err, http.StatusUnprocessableEntity)
			return
		}
		if o.Name == "" || strings.TrimSpace(o.Name) != o.Name {
			t.Fatalf("accepted name %q", o.Name)
		}
		served := false
		for _, r := range rules.Regions {
			served = served || r == o.Region
		}
		if !served {
			t.Fatalf("accepted region %q", o.Region)
		}
		switch o.Mode {
		case domain.ModeProviderManaged:
			if o.KeyARN != "" {
				t.Fatalf("provider_managed with key %q", o.KeyARN)
			}
		case domain.ModeCustomerManaged:
			arn, err := keyarn.Parse(o.KeyARN)
			if err != nil || arn.Region != o.Region {
				t.Fatalf("accepted key %q for region %q: %v", o.KeyARN, o.Region, err)
			}
		default:
			t.Fatalf("accepted mode %q", o.Mode)
		}
	})
}

// FuzzDecodeJSON: text is text. Whatever decodeJSON accepts is valid UTF-8, an object, holds no
// escape of a lone surrogate (which encoding/json would silently turn into U+FFFD) and no name twice
// in one object (strict JSON, as jsontext reads it).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"a"}`, `{"name":"\ud800"}`, `{"name":"\udc00"}`, `{"name":"\ud83d\ude00"}`,
		`{"name":"\\ud800"}`, `null`, "{\"name\":\"\xff\xfe\"}", `{"name":"\u200f"}`, `[1]`, ` {"name":"x"} `,
		`{"name":"a","name":"b"}`, `{"name":"a","n\u0061me":"b"}`, `{"x":{"y":1,"y":2},"name":"a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v struct {
			Name string `json:"name"`
		}
		if err := decodeJSON(raw, &v); err != nil {
			clientError(t, err, http.StatusBadRequest)
			return
		}
		if !utf8.Valid(raw) || bytes.TrimSpace(raw)[0] != '{' || !jsontext.Value(raw).IsValid() {
			t.Fatalf("accepted %q", raw)
		}
		// A U+FFFD in what was decoded was sent as one, never made up from a lone surrogate.
		sentFFFD := strings.ContainsRune(string(raw), utf8.RuneError) || strings.Contains(strings.ToLower(string(raw)), `\ufffd`)
		if strings.ContainsRune(v.Name, utf8.RuneError) && !sentFFFD {
			t.Fatalf("accepted %q as %q", raw, v.Name)
		}
	})
}

func TestDecodeJSON_TextIsText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{`{"name":"Acme"}`, true},
		{`{"name":"\ud83d\ude00"}`, true}, // a surrogate pair is a character
		{`{"name":"\\ud800"}`, true},      // an escaped backslash, then text
		{`{"name":"\ud800"}`, false},
		{`{"name":"\udc00"}`, false},
		{`{"name":"\ud800\u0041"}`, false},
		{`{"name":"\ud800x"}`, false},
		{"{\"name\":\"\xff\xfe\"}", false},
		{`null`, false},
		{` [] `, false},
		{`{"name":"a","name":"b"}`, false},
		{`{"name":"a","n\u0061me":"b"}`, false},
		{`{"name":"a","x":{"y":[{"z":1,"z":1}]}}`, false},
	} {
		var v struct {
			Name string `json:"name"`
		}
		err := decodeJSON([]byte(tc.raw), &v)
		if (err == nil) != tc.ok {
			t.Errorf("decodeJSON(%q) = %v, want ok %t", tc.raw, err, tc.ok)
		}
		if err != nil {
			clientError(t, err, http.StatusBadRequest)
		}
	}
}
