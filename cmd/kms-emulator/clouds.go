package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	awsemu "github.com/cmekd/cmekd/emulator/aws"
	"github.com/cmekd/cmekd/emulator/azure"
	"github.com/cmekd/cmekd/emulator/gcp"
	"github.com/cmekd/cmekd/emulator/tlsca"
)

// clouds are the emulator's Google Cloud KMS and Azure, served beside AWS KMS when their addresses
// are given, over TLS from the CA in -tls-dir.
type clouds struct {
	gcpAddr, azureAddr, tlsDir string
	gcpIDs, azureIDs           []string

	gcp   *gcp.Emulator
	azure *azure.Emulator
}

// flags adds the clouds' flags to fs.
func (c *clouds) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.gcpAddr, "gcp-addr", "", "listen `ADDRESS` of Google Cloud KMS (gRPC over TLS, with its OAuth token endpoint); empty: not served")
	fs.StringVar(&c.azureAddr, "azure-addr", "", "listen `ADDRESS` of Azure (Entra ID, Key Vault and Resource Manager over HTTPS, routed by Host); empty: not served")
	fs.StringVar(&c.tlsDir, "tls-dir", "", "`DIR` for ca.pem (the CA of every certificate served) and the identities' credential files; needed with -gcp-addr or -azure-addr")
	fs.Func("gcp-identity", "`EMAIL[:PROJECT]`: a service account, its key file written to DIR/<EMAIL>.json; with PROJECT, roles/cloudkms.admin of it (repeatable)",
		func(s string) error { c.gcpIDs = append(c.gcpIDs, s); return nil })
	fs.Func("azure-identity", "`NAME[:VAULT]`: a service principal, its credentials written to DIR/<NAME>.json; with VAULT, that vault, of which it is Key Vault Administrator (repeatable)",
		func(s string) error { c.azureIDs = append(c.azureIDs, s); return nil })
}

// check refuses flags that cannot work together.
func (c *clouds) check() error {
	if (c.gcpAddr != "" || c.azureAddr != "") && c.tlsDir == "" {
		return errors.New("-gcp-addr and -azure-addr serve TLS: give -tls-dir for its CA")
	}
	if len(c.gcpIDs) > 0 && c.gcpAddr == "" {
		return errors.New("-gcp-identity needs -gcp-addr")
	}
	if len(c.azureIDs) > 0 && c.azureAddr == "" {
		return errors.New("-azure-identity needs -azure-addr")
	}
	return nil
}

// open makes the clouds asked for; save is called whenever one's state changes. It returns them
// as companions of the AWS emulator, whose state file keeps them.
func (c *clouds) open(log *slog.Logger, save func()) (map[string]awsemu.Companion, error) {
	companions := map[string]awsemu.Companion{}
	var err error
	if c.gcpAddr != "" {
		if c.gcp, err = gcp.New(gcp.Options{Logger: log.With("cloud", "gcp"), CredentialsDir: c.tlsDir, OnChange: save}); err != nil {
			return nil, err
		}
		companions["gcp"] = c.gcp
	}
	if c.azureAddr != "" {
		if c.azure, err = azure.New(azure.Options{Logger: log.With("cloud", "azure"), CredentialsDir: c.tlsDir, OnChange: save}); err != nil {
			return nil, err
		}
		companions["azure"] = c.azure
	}
	return companions, nil
}

// identities makes the identities the flags ask for, once the state file has been restored (an
// identity already there keeps its credentials).
func (c *clouds) identities() error {
	for _, s := range c.gcpIDs {
		email, project, _ := strings.Cut(s, ":")
		if _, err := c.gcp.AddIdentity(email, project); err != nil {
			return fmt.Errorf("-gcp-identity %s: %w", s, err)
		}
	}
	for _, s := range c.azureIDs {
		name, vault, _ := strings.Cut(s, ":")
		if _, err := c.azure.AddIdentity(name, vault); err != nil {
			return fmt.Errorf("-azure-identity %s: %w", s, err)
		}
	}
	return nil
}

// serve starts serving the clouds; stop stops them.
func (c *clouds) serve(log *slog.Logger) (stop func(), err error) {
	if c.gcp == nil && c.azure == nil {
		return func() {}, nil
	}
	ca, err := tlsca.Open(c.tlsDir)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := ca.ServerConfig()
	if err != nil {
		return nil, err
	}
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	if c.gcp != nil {
		ln, err := net.Listen("tcp", c.gcpAddr)
		if err != nil {
			return nil, err
		}
		// Each server takes its own copy: an http.Server writes into its TLS configuration.
		go func() { _ = c.gcp.Serve(ln, tlsCfg.Clone()) }()
		stops = append(stops, func() { _ = c.gcp.Close() })
		log.Info("google cloud kms emulator listening", "addr", ln.Addr().String(), "tls_dir", c.tlsDir)
	}
	if c.azure != nil {
		ln, err := net.Listen("tcp", c.azureAddr)
		if err != nil {
			stopAll()
			return nil, err
		}
		srv := &http.Server{Handler: c.azure, TLSConfig: tlsCfg.Clone(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		stops = append(stops, func() { _ = srv.Close() })
		log.Info("azure emulator listening", "addr", ln.Addr().String(), "tls_dir", c.tlsDir)
	}
	return stopAll, nil
}
