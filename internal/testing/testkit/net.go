package testkit

import (
	"net"
	"testing"
)

// FreeAddr is a loopback address whose port nothing listens on right now: for a server that must
// be told its address before it listens, or for a peer that is not there.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
