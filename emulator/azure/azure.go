// Package azure emulates the Azure hosts that the official Go SDKs (azidentity, azkeys,
// armauthorization) call: Entra ID's client-credentials token endpoint and its discovery,
// Key Vault and Managed HSM keys, and Resource Manager's role assignments, which it enforces.
// One HTTPS handler serves every host; requests are routed by their Host header, so clients dial
// every Azure host name to the emulator's one address and keep the name for TLS and routing.
package azure

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configure an Emulator.
type Options struct {
	// Now is the emulator's clock (token lifetimes, key validity, soft-delete dates); nil means time.Now.
	Now func() time.Time
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// CredentialsDir is where AddIdentity writes <NAME>.json; empty means the working directory.
	CredentialsDir string
	// OnChange is called after every change of state (outside the emulator's lock), so that the
	// caller can persist MarshalState.
	OnChange func()
	// TokenLifetime is how long issued access tokens live; zero means one hour.
	TokenLifetime time.Duration
	// Region is what x-ms-keyvault-region reports; empty means "eastus".
	Region string
}

// Emulator is the http.Handler of every emulated Azure host.
type Emulator struct {
	opts  Options
	mu    sync.Mutex
	st    *state
	dirty bool // a change under mu that OnChange has not heard of yet
}

// state is everything the emulator keeps, as MarshalState writes it.
type state struct {
	TenantID       string                 `json:"tenant_id"`
	SubscriptionID string                 `json:"subscription_id"`
	SigningKey     []byte                 `json:"signing_key"`
	Principals     map[string]*principal  `json:"principals"`  // by identity name
	Vaults         map[string]*vault      `json:"vaults"`      // by lower-case vault or HSM name
	Assignments    map[string]*assignment `json:"assignments"` // by lower-case assignment name
}

// principal is a service principal (application and its object).
type principal struct {
	Name          string `json:"name"`
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	ObjectID      string `json:"object_id"`
	ResourceGroup string `json:"resource_group"`
}

// Identity is what AddIdentity writes to DIR/<NAME>.json: what a client needs to sign in.
type Identity struct {
	TenantID       string `json:"tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	ObjectID       string `json:"object_id"`
	SubscriptionID string `json:"subscription_id"`
	ResourceGroup  string `json:"resource_group"`
}

// New returns an emulator with a fresh tenant and subscription and no identities.
func New(opts Options) (*Emulator, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Region == "" {
		opts.Region = "eastus"
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &Emulator{opts: opts, st: &state{
		TenantID:       newGUID(),
		SubscriptionID: newGUID(),
		SigningKey:     key,
		Principals:     map[string]*principal{},
		Vaults:         map[string]*vault{},
		Assignments:    map[string]*assignment{},
	}}, nil
}

// TenantID is the emulated Entra ID tenant.
func (e *Emulator) TenantID() string { e.mu.Lock(); defer e.mu.Unlock(); return e.st.TenantID }

// SubscriptionID is the emulated subscription.
func (e *Emulator) SubscriptionID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.SubscriptionID
}

// MarshalState serialises the emulator's identities, vaults, keys and role assignments.
func (e *Emulator) MarshalState() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return json.Marshal(e.st)
}

// UnmarshalState replaces the emulator's state with one MarshalState wrote. Call it before
// AddIdentity, which then finds the identities it made before and keeps their secrets.
func (e *Emulator) UnmarshalState(data []byte) error {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("azure: state: %w", err)
	}
	if st.TenantID == "" || st.SubscriptionID == "" || len(st.SigningKey) < 32 {
		return errors.New("azure: state: tenant, subscription or signing key missing")
	}
	for _, m := range []bool{st.Principals == nil, st.Vaults == nil, st.Assignments == nil} {
		if m {
			return errors.New("azure: state: principals, vaults or assignments missing")
		}
	}
	e.mu.Lock()
	e.st = &st
	e.mu.Unlock()
	return nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
var vaultNamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$`)

// AddIdentity makes a service principal NAME and writes its credentials to
// CredentialsDir/<NAME>.json. With vault non-empty it also creates that key vault in the
// principal's resource group and makes the principal Owner of the resource group and Key Vault
// Administrator of the vault. It is idempotent: an identity already in the state keeps its secret.
func (e *Emulator) AddIdentity(name, vaultName string) (Identity, error) {
	if !namePattern.MatchString(name) {
		return Identity{}, fmt.Errorf("azure: identity name %q: letters, digits, '.', '_', '-' only", name)
	}
	if vaultName != "" && !vaultNamePattern.MatchString(vaultName) {
		return Identity{}, fmt.Errorf("azure: vault name %q: 3-24 letters, digits and dashes, starting with a letter", vaultName)
	}
	e.mu.Lock()
	p := e.principalLocked(name)
	if vaultName != "" {
		e.vaultForLocked(p, vaultName, false)
	}
	id := Identity{TenantID: e.st.TenantID, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		ObjectID: p.ObjectID, SubscriptionID: e.st.SubscriptionID, ResourceGroup: p.ResourceGroup}
	e.mu.Unlock()
	e.changed()
	return id, e.writeIdentity(name, id)
}

// AddManagedHSM creates a Managed HSM in the resource group of identity (made by AddIdentity)
// and makes that identity its Managed HSM Crypto Officer and Crypto User.
func (e *Emulator) AddManagedHSM(identity, hsmName string) error {
	if !vaultNamePattern.MatchString(hsmName) {
		return fmt.Errorf("azure: HSM name %q: 3-24 letters, digits and dashes, starting with a letter", hsmName)
	}
	e.mu.Lock()
	p, ok := e.st.Principals[identity]
	if ok {
		e.vaultForLocked(p, hsmName, true)
	}
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("azure: no identity %q", identity)
	}
	e.changed()
	return nil
}

func (e *Emulator) principalLocked(name string) *principal {
	if p, ok := e.st.Principals[name]; ok {
		return p
	}
	p := &principal{Name: name, ClientID: newGUID(), ClientSecret: newSecret(), ObjectID: newGUID(),
		ResourceGroup: "rg-" + strings.ToLower(name)}
	e.st.Principals[name] = p
	e.grantLocked(p.ObjectID, e.resourceGroupID(p.ResourceGroup), roleOwner)
	return p
}

// vaultForLocked creates the vault or HSM (when missing) and gives p its administrator roles.
func (e *Emulator) vaultForLocked(p *principal, name string, hsm bool) {
	v, ok := e.st.Vaults[strings.ToLower(name)]
	if !ok {
		v = &vault{Name: strings.ToLower(name), HSM: hsm, ResourceGroup: p.ResourceGroup,
			Keys: map[string]*key{}, Deleted: map[string]*deletedKey{}}
		e.st.Vaults[v.Name] = v
	}
	roles := []string{roleKeyVaultAdministrator}
	if v.HSM {
		roles = []string{roleHSMCryptoOfficer, roleHSMCryptoUser}
	}
	for _, r := range roles {
		e.grantLocked(p.ObjectID, e.vaultID(v), r)
	}
}

func (e *Emulator) writeIdentity(name string, id Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	dir := e.opts.CredentialsDir
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o600)
}

// markChanged notes, under mu, a change that unlockAndNotify reports.
func (e *Emulator) markChanged() { e.dirty = true }

// unlockAndNotify releases mu and then tells OnChange of any change made under it.
func (e *Emulator) unlockAndNotify() {
	dirty := e.dirty
	e.dirty = false
	e.mu.Unlock()
	if dirty {
		e.changed()
	}
}

func (e *Emulator) changed() {
	if e.opts.OnChange != nil {
		e.opts.OnChange()
	}
}

func (e *Emulator) resourceGroupID(rg string) string {
	return "/subscriptions/" + e.st.SubscriptionID + "/resourceGroups/" + rg
}

func (e *Emulator) vaultID(v *vault) string {
	kind := "vaults"
	if v.HSM {
		kind = "managedHSMs"
	}
	return e.resourceGroupID(v.ResourceGroup) + "/providers/Microsoft.KeyVault/" + kind + "/" + v.Name
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newSecret() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return strings.TrimRight(strings.NewReplacer("+", "_", "/", "~").Replace(base64Std(b)), "=")
}

// ServeHTTP routes a request by its Host header to Entra ID, Resource Manager or a vault.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := e.opts.Now()
	switch kind := hostKind(host); kind {
	case kindLogin:
		e.serveLogin(rec, r)
	case kindARM:
		e.serveARM(rec, r)
	case kindVault, kindHSM:
		e.serveVault(rec, r, host, kind == kindHSM)
	default:
		writeARMError(rec, &apiError{status: http.StatusNotFound, code: "NotFound",
			msg: "The emulator serves no Azure host named '" + host + "'."})
	}
	e.opts.Logger.Info("azure request", "host", host, "method", r.Method, "path", r.URL.Path,
		"status", rec.status, "operation", rec.op, "duration", e.opts.Now().Sub(start))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	op     string
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
