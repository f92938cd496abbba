package tlsca_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cmekd/cmekd/emulator/tlsca"
)

// serve answers HTTPS with ca's Serve, each request with its Host, and returns where it listens.
func serve(t *testing.T, ca *tlsca.CA) string {
	t.Helper()
	addr, stop, err := ca.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// get asks addr for / over TLS as host, trusting roots (nil: the system's).
func get(addr, host string, roots *x509.CertPool) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestCA_ServesCloudHostNamesThatAClientTrustingCAPEMAccepts(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, ca)
	caPEM, err := os.ReadFile(filepath.Join(dir, tlsca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, host := range []string{"127.0.0.1", "localhost", "acme.vault.azure.net", "hsm1.managedhsm.azure.net", "login.microsoftonline.com", "management.azure.com"} {
		if err := get(addr, host, roots); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
	}
	if get(addr, "example.com", roots) == nil {
		t.Fatal("a name the certificate does not cover was accepted")
	}
	if get(addr, "localhost", nil) == nil {
		t.Fatal("the system roots accepted the emulator's certificate")
	}
}

func TestOpen_KeepsTheCAAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first, err1 := tlsca.Open(dir)
	again, err2 := tlsca.Open(dir)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.PEM(), again.PEM()) {
		t.Fatal("a second Open made a new CA: clients that trusted ca.pem would stop working")
	}
	// A certificate the reopened CA issues is trusted by a client of the first.
	if err := get(serve(t, again), "localhost", first.Pool()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key file: %v, mode %v; want 0600", err, fi.Mode())
	}
}

func TestOpen_RefusesAFileThatIsNotPEM(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, tlsca.CAFile), []byte("not pem"), 0o644)
	os.WriteFile(filepath.Join(dir, "ca-key.pem"), []byte("not pem"), 0o600)
	if _, err := tlsca.Open(dir); err == nil {
		t.Fatal("Open accepted a CA directory without PEM")
	}
}
