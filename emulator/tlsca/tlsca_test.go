package tlsca_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/cmekd/cmekd/emulator/tlsca"
)

// serve answers HTTPS on loopback with ca's certificate and returns the listener's port.
func serve(t *testing.T, ca *tlsca.CA) string {
	t.Helper()
	cfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Host) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestCA_ServesCloudHostNamesThatAClientTrustingCAPEMAccepts(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	port := serve(t, ca)
	caPEM, err := os.ReadFile(filepath.Join(dir, tlsca.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, host := range []string{"127.0.0.1", "localhost", "acme.vault.azure.net", "hsm1.managedhsm.azure.net", "login.microsoftonline.com", "management.azure.com"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}
		resp, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"}}
	if _, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + port + "/"); err == nil {
		t.Fatal("a name the certificate does not cover was accepted")
	}
	tr = &http.Transport{TLSClientConfig: &tls.Config{ServerName: "localhost"}}
	if _, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + port + "/"); err == nil {
		t.Fatal("the system roots accepted the emulator's certificate")
	}
}

func TestOpen_KeepsTheCAAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tlsca.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.PEM(), again.PEM()) {
		t.Fatal("a second Open made a new CA: clients that trusted ca.pem would stop working")
	}
	// A certificate the reopened CA issues is trusted by a client of the first.
	port := serve(t, again)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: first.Pool(), ServerName: "localhost"}}
	resp, err := (&http.Client{Transport: tr}).Get("https://127.0.0.1:" + port + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
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
