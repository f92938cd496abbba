package envelope_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/cmekd/cmekd/internal/envelope"
)

var docAAD = envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_1", OwnerID: "col_1", ItemID: "doc_1"}

func newKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, envelope.KeySize)
	rand.Read(key)
	return key
}

func seal(t *testing.T, key []byte, aad envelope.AAD, plaintext []byte) (nonce, ciphertext []byte) {
	t.Helper()
	nonce, ciphertext, err := envelope.Seal(key, aad, plaintext)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return nonce, ciphertext
}

func TestSealOpen_RoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		plaintext []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{'x'}},
		{"json", []byte(`{"name":"Ada","balance":12.5}`)},
		{"256 KiB", bytes.Repeat([]byte("0123456789abcdef"), 16<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			key := newKey(t)
			nonce, ciphertext := seal(t, key, docAAD, tc.plaintext)
			if len(nonce) != 12 {
				t.Errorf("nonce is %d bytes, want 12", len(nonce))
			}
			// Short plaintexts may turn up in random bytes by chance.
			if len(tc.plaintext) >= 16 && bytes.Contains(ciphertext, tc.plaintext) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := envelope.Open(key, docAAD, nonce, ciphertext)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Errorf("Open = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestSeal_DrawsAFreshNonceEachTime(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	seen := map[string]bool{}
	for range 100 {
		nonce, ciphertext := seal(t, key, docAAD, []byte("same document"))
		if seen[string(nonce)] || seen[string(ciphertext)] {
			t.Fatalf("nonce or ciphertext repeated after %d seals", len(seen)/2)
		}
		seen[string(nonce)], seen[string(ciphertext)] = true, true
	}
}

func TestSeal_ResultsDoNotAlias(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	nonce, ciphertext := seal(t, key, docAAD, []byte("document"))
	// A caller that appends to the nonce (building a row, say) must not overwrite the ciphertext.
	nonce = append(nonce, 0xff)
	if _, err := envelope.Open(key, docAAD, nonce[:12], ciphertext); err != nil {
		t.Errorf("appending to the nonce broke the ciphertext: %v", err)
	}
}

// TestSealAppend_BatchInOneBuffer: items sealed one after another into a buffer sized for them all
// land in it without moving it, each opens under its own AAD, and none overwrites another.
func TestSealAppend_BatchInOneBuffer(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	s, err := envelope.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	items := [][]byte{[]byte(`{"a":1}`), []byte(`{"b":"two"}`), {}}
	size := 0
	for _, p := range items {
		size += envelope.SealedSize(len(p))
	}
	buf := make([]byte, 0, size)
	type sealed struct{ nonce, ciphertext []byte }
	var out []sealed
	for i, p := range items {
		aad := docAAD
		aad.ItemID = fmt.Sprint("doc_", i)
		nonce, ct, grown, err := s.SealAppend(buf, aad, p)
		if err != nil {
			t.Fatal(err)
		}
		if &grown[:cap(grown)][0] != &buf[:cap(buf)][0] {
			t.Fatalf("item %d moved a buffer sized for the batch", i)
		}
		buf = grown
		out = append(out, sealed{nonce, ct})
	}
	if len(buf) != size {
		t.Fatalf("the batch took %d bytes, SealedSize says %d", len(buf), size)
	}
	for i, o := range out {
		aad := docAAD
		aad.ItemID = fmt.Sprint("doc_", i)
		got, err := envelope.Open(key, aad, o.nonce, o.ciphertext)
		if err != nil || !bytes.Equal(got, items[i]) {
			t.Errorf("item %d opens as %q, %v; want %q", i, got, err, items[i])
		}
	}
	// Appending to one item's ciphertext must not run over the next item.
	_ = append(out[0].ciphertext, 0xff)
	if _, err := s.Open(envelope.AAD{Label: docAAD.Label, OrgID: "org_1", OwnerID: "col_1", ItemID: "doc_1"}, out[1].nonce, out[1].ciphertext); err != nil {
		t.Errorf("appending to one item broke the next: %v", err)
	}
}

func TestOpen_FailsForAnotherAAD(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	sealedAs := envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1"}
	nonce, ciphertext := seal(t, key, sealedAs, []byte(`{"secret":true}`))
	for _, tc := range []struct {
		name string
		aad  envelope.AAD
	}{
		{"other organisation", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_ax", OwnerID: "col_c", ItemID: "doc_1"}},
		{"other collection", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_ab", OwnerID: "col_d", ItemID: "doc_1"}},
		{"other document", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_2"}},
		{"field boundary moved", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_a", OwnerID: "bcol_c", ItemID: "doc_1"}},
		{"fields swapped", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "col_c", OwnerID: "org_ab", ItemID: "doc_1"}},
		{"other purpose", envelope.AAD{Label: "cmekd/secret/v1", OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1"}},
		{"empty", envelope.AAD{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := envelope.Open(key, tc.aad, nonce, ciphertext); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Open = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestOpen_KeyBoundAADFailsForAnotherKey(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	const arn = "arn:aws:kms:us-west-2:111122223333:key/11111111-1111-1111-1111-111111111111"
	sealedAs := envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1", KeyARN: arn}
	nonce, ciphertext := seal(t, key, sealedAs, []byte(`{"secret":true}`))
	if _, err := envelope.Open(key, sealedAs, nonce, ciphertext); err != nil {
		t.Fatalf("Open under the AAD it was sealed with: %v", err)
	}
	for _, tc := range []struct {
		name string
		aad  envelope.AAD
	}{
		{"another key", envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1",
			KeyARN: "arn:aws:kms:us-west-2:111122223333:key/22222222-2222-2222-2222-222222222222"}},
		{"no key", envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1"}},
		{"the first label", envelope.AAD{Label: envelope.DocumentLabel, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1", KeyARN: arn}},
		{"the key moved into the item", envelope.AAD{Label: envelope.DocumentLabelV2, OrgID: "org_ab", OwnerID: "col_c", ItemID: "doc_1" + arn}},
	} {
		if _, err := envelope.Open(key, tc.aad, nonce, ciphertext); !errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("%s: Open = %v, want ErrDecrypt", tc.name, err)
		}
	}
}

func TestOpen_FailsForTamperedInput(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	nonce, ciphertext := seal(t, key, docAAD, []byte(`{"amount":100}`))
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name              string
		key               []byte
		nonce, ciphertext []byte
	}{
		{"first ciphertext byte", key, nonce, flip(ciphertext, 0)},
		{"tag byte", key, nonce, flip(ciphertext, len(ciphertext)-1)},
		{"nonce byte", key, flip(nonce, 5), ciphertext},
		{"truncated", key, nonce, ciphertext[:len(ciphertext)-1]},
		{"shorter than a tag", key, nonce, ciphertext[:15]},
		{"extended", key, nonce, append(bytes.Clone(ciphertext), 0)},
		{"short nonce", key, nonce[:11], ciphertext},
		{"long nonce", key, append(bytes.Clone(nonce), 0), ciphertext},
		{"no nonce", key, nil, ciphertext},
		{"other key", newKey(t), nonce, ciphertext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := envelope.Open(tc.key, docAAD, tc.nonce, tc.ciphertext); !errors.Is(err, envelope.ErrDecrypt) {
				t.Errorf("Open = %v, want ErrDecrypt", err)
			}
		})
	}
}

func TestSealOpen_RejectWrongKeyLength(t *testing.T) {
	t.Parallel()
	nonce, ciphertext := seal(t, newKey(t), docAAD, []byte("document"))
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		key := make([]byte, n)
		if _, _, err := envelope.Seal(key, docAAD, []byte("document")); err == nil {
			t.Errorf("Seal with a %d-byte key: no error", n)
		}
		// A key of the wrong length is a bug, not a ciphertext that fails to authenticate.
		if _, err := envelope.Open(key, docAAD, nonce, ciphertext); err == nil || errors.Is(err, envelope.ErrDecrypt) {
			t.Errorf("Open with a %d-byte key = %v, want a key length error", n, err)
		}
	}
}

func TestSeal_RequiresEveryAADField(t *testing.T) {
	t.Parallel()
	for _, aad := range []envelope.AAD{
		{OrgID: "org_1", OwnerID: "col_1", ItemID: "doc_1"},
		{Label: envelope.DocumentLabel, OwnerID: "col_1", ItemID: "doc_1"},
		{Label: envelope.DocumentLabel, OrgID: "org_1", ItemID: "doc_1"},
		{Label: envelope.DocumentLabel, OrgID: "org_1", OwnerID: "col_1"},
	} {
		if _, _, err := envelope.Seal(newKey(t), aad, []byte("document")); err == nil {
			t.Errorf("Seal with %+v: no error", aad)
		}
	}
}

func TestWipe_ZeroesEveryByte(t *testing.T) {
	t.Parallel()
	b := newKey(t)
	envelope.Wipe(b)
	if !isZero(b) {
		t.Errorf("Wipe left %x", b)
	}
}

func BenchmarkSeal1KiB(b *testing.B) {
	key := newKey(b)
	plaintext := bytes.Repeat([]byte("x"), 1024)
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := envelope.Seal(key, docAAD, plaintext); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	key := newKey(b)
	plaintext := bytes.Repeat([]byte("x"), 1024)
	nonce, ciphertext, err := envelope.Seal(key, docAAD, plaintext)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := envelope.Open(key, docAAD, nonce, ciphertext); err != nil {
			b.Fatal(err)
		}
	}
}
