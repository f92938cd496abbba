// Package tlsca is the certificate authority of the emulator's TLS endpoints (Google Cloud KMS
// over gRPC, Azure's hosts over HTTPS). Clients trust its one CA file; every certificate the
// emulator serves is issued by it, for loopback and for the cloud host names the SDKs dial.
package tlsca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// DefaultNames are the names the emulator's certificate covers: loopback, and every Azure host
// the SDKs dial (public and sovereign clouds), so that a client which dials them all to the
// emulator still checks the name it asked for.
var DefaultNames = []string{
	"127.0.0.1", "::1", "localhost",
	"*.vault.azure.net", "*.managedhsm.azure.net",
	"*.vault.azure.cn", "*.managedhsm.azure.cn",
	"*.vault.usgovcloudapi.net", "*.managedhsm.usgovcloudapi.net",
	"login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us",
	"management.azure.com", "management.chinacloudapi.cn", "management.usgovcloudapi.net",
}

// CAFile is the name of the CA certificate in a TLS directory.
const CAFile = "ca.pem"

// keyFile keeps the CA's private key beside it, so that a restarted emulator serves
// certificates its clients still trust.
const keyFile = "ca-key.pem"

// CA issues the emulator's server certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// New returns a CA that lives in memory only.
func New() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cmekd emulator CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return fromDER(der, key)
}

// Open returns the CA kept in dir, creating it (and dir) on first use: dir/ca.pem is what
// clients trust.
func Open(dir string) (*CA, error) {
	certPEM, certErr := os.ReadFile(filepath.Join(dir, CAFile))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, keyFile))
	if errors.Is(certErr, fs.ErrNotExist) || errors.Is(keyErr, fs.ErrNotExist) {
		ca, err := New()
		if err != nil {
			return nil, err
		}
		return ca, ca.save(dir)
	}
	if err := errors.Join(certErr, keyErr); err != nil {
		return nil, err
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("tlsca: %s holds no PEM CA", dir)
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tlsca: %s: %w", keyFile, err)
	}
	return fromDER(certBlock.Bytes, key)
}

func fromDER(der []byte, key *ecdsa.PrivateKey) (*CA, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (ca *CA) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, CAFile), ca.pem, 0o644)
}

// PEM is the CA certificate, what a client adds to the roots it trusts.
func (ca *CA) PEM() []byte { return ca.pem }

// Pool is a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// ClientConfig is a TLS client configuration that trusts this CA alone.
func (ca *CA) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// ServerConfig is a TLS server configuration with one certificate for names (DNS names,
// wildcards or IP addresses); none means DefaultNames.
func (ca *CA) ServerConfig(names ...string) (*tls.Config, error) {
	cert, err := ca.Issue(names...)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Serve serves h over TLS, with a certificate for DefaultNames, on a random port of 127.0.0.1
// until stop; addr is where it listens.
func (ca *CA) Serve(h http.Handler) (addr string, stop func(), err error) {
	cfg, err := ca.ServerConfig()
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// Transport is an HTTP transport that trusts this CA alone and dials every host name to addr,
// keeping the name for TLS and routing, as a client of the emulator's Azure hosts does.
func (ca *CA) Transport(addr string) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Transport{TLSClientConfig: ca.ClientConfig(), ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}}
}

// Issue makes a server certificate for names; none means DefaultNames.
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	if len(names) == 0 {
		names = DefaultNames
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
