package kmstest

import (
	"testing"

	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
)

// GrantPolicy is grant mode's whole generated key policy for keyARN, with ControlPrincipal and
// DataPrincipal as the platform's identities.
func GrantPolicy(t testing.TB, keyARN string) string {
	t.Helper()
	arn, err := keyarn.Parse(keyARN)
	if err != nil {
		t.Fatal(err)
	}
	v, err := keypolicy.Generate(keypolicy.Request{KeyARN: arn, PlatformPrincipal: ControlPrincipal,
		DataPrincipal: DataPrincipal, Template: keypolicy.TemplateFull})
	if err != nil {
		t.Fatal(err)
	}
	b, err := keypolicy.JSON(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
