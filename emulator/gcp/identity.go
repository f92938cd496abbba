package gcp

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
)

// identity is a service account and its one key.
type identity struct {
	Email    string `json:"email"`
	ClientID string `json:"client_id"`
	KeyID    string `json:"key_id"`
	Project  string `json:"project,omitempty"` // the key file's project_id
	Key      []byte `json:"key"`               // PKCS #8 DER
	rsa      *rsa.PrivateKey
}

// serviceAccountFile is the standard service-account key file, as the Google Cloud console
// downloads it.
type serviceAccountFile struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// AddIdentity creates the service account email (or keeps the one state already holds), writes
// its key file to CredentialsDir/<email>.json and returns that path; with project, it also makes
// the account roles/cloudkms.admin of that project.
func (e *Emulator) AddIdentity(email, project string) (string, error) {
	if e.opts.CredentialsDir == "" {
		return "", errors.New("gcp: AddIdentity needs Options.CredentialsDir")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || strings.ContainsAny(email, `/\`) {
		return "", fmt.Errorf("gcp: identity %q is not an email address", email)
	}
	if project != "" && !projectID.MatchString(project) {
		return "", fmt.Errorf("gcp: identity %s: %q is not a project id", email, project)
	}
	e.mu.Lock()
	path, err := e.addIdentity(email, project)
	e.mu.Unlock()
	if err == nil {
		e.changed()
	}
	return path, err
}

func (e *Emulator) addIdentity(email, project string) (string, error) {
	id := e.st.Identities[email]
	if id == nil {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return "", err
		}
		kid := sha256.Sum256(der)
		id = &identity{Email: email, ClientID: clientID(), KeyID: hex.EncodeToString(kid[:20]), Key: der, rsa: key}
		e.st.Identities[email] = id
		e.dirty = true
	}
	if id.Project == "" {
		id.Project = cmp.Or(emailProject(email), project)
	}
	if project != "" {
		e.grant(name{kind: kindProject, project: project}.String(), member(email), roleAdmin)
	}
	return e.writeKeyFile(id)
}

// clientID is a 21-digit number, the shape of a service account's unique id.
func clientID() string {
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("1%020d", n)
}

// member is an identity's principal in IAM bindings.
func member(email string) string { return "serviceAccount:" + email }

func (e *Emulator) keyFilePath(email string) string {
	return filepath.Join(e.opts.CredentialsDir, email+".json")
}

func (e *Emulator) writeKeyFile(id *identity) (string, error) {
	f := serviceAccountFile{
		Type:                    "service_account",
		ProjectID:               id.Project,
		PrivateKeyID:            id.KeyID,
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: id.Key})),
		ClientEmail:             id.Email,
		ClientID:                id.ClientID,
		AuthURI:                 "https://accounts.google.com/o/oauth2/auth",
		TokenURI:                e.tokenURL(),
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientX509CertURL:       "https://www.googleapis.com/robot/v1/metadata/x509/" + id.Email,
		UniverseDomain:          "googleapis.com",
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(e.opts.CredentialsDir, 0o700); err != nil {
		return "", err
	}
	path := e.keyFilePath(id.Email)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}

// writeKeyFiles writes every identity's key file again (after a restore, or once the token
// endpoint's address is known).
func (e *Emulator) writeKeyFiles() error {
	if e.opts.CredentialsDir == "" {
		return nil
	}
	for _, id := range e.st.Identities {
		if _, err := e.writeKeyFile(id); err != nil {
			return err
		}
	}
	return nil
}

// emailProject is the project of a service account's address (NAME@PROJECT.iam.gserviceaccount.com),
// or "" for another address.
func emailProject(email string) string {
	_, domain, _ := strings.Cut(email, "@")
	p, ok := strings.CutSuffix(domain, ".iam.gserviceaccount.com")
	if !ok {
		return ""
	}
	return p
}

// privateKey is the identity's parsed key, cached.
func (id *identity) privateKey() (*rsa.PrivateKey, error) {
	if id.rsa != nil {
		return id.rsa, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(id.Key)
	if err != nil {
		return nil, err
	}
	r, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("gcp: identity key is not RSA")
	}
	id.rsa = r
	return r, nil
}
