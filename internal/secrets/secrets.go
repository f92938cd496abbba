// Package secrets is the use-case service of secret scopes (seed: Tecton Secrets):
// workspaces, scopes with manager / writer / reader roles, and secret values sealed under data keys
// of the organisation's key through the keyring, so that a key the customer revokes locks the secrets
// too. It owns its transactions and events; no value, plaintext or ciphertext, ever leaves it except
// in the one answer that reads it.
package secrets

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyring"
	"github.com/cmekd/cmekd/internal/store"
)

// MaxValueBytes bounds a secret value: 64 KiB of UTF-8.
const MaxValueBytes = 64 << 10

// Config configures the service.
type Config struct {
	Store   *store.Store
	Keyring *keyring.Keyring
	// ProviderKeys wrap the data keys of provider_managed organisations: the home region's seals
	// their secrets.
	ProviderKeys domain.ProviderKeys
	// Limits bound an organisation's scopes, workspaces and the keys of each scope (0: no limit).
	Limits domain.Limits
}

// Service runs the workspace, scope and secret use cases.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service { return &Service{cfg: cfg} }

// Names of scopes and workspaces appear in paths (`-s my-demo-scope`), so they are path-safe; keys
// are the documented ones exactly.
var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	keyPattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
)

// validName checks the name of a new scope or workspace.
func validName(name string) error {
	if !namePattern.MatchString(name) {
		return domain.Invalid("name", "name must be 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	return nil
}

// ErrWorkspaceToken refuses a workspace token anything but reading a granted secret.
var ErrWorkspaceToken = domain.Errorf(domain.KindForbidden, domain.CodeForbidden,
	"a workspace token may only read the values of secrets its workspace was granted")

var (
	errCorrupt = domain.Errorf(domain.KindInternal, domain.CodeSecretIntegrity,
		"the stored secret failed its integrity check and was not returned")
)

// holder names p as role assignments name it: its token id, "admin", or "workspace:<name>".
func holder(p domain.Principal) string {
	switch {
	case p.Role == domain.RoleAdmin:
		return "admin"
	case p.Role == domain.RoleWorkspace:
		return workspacePrefix + p.Workspace
	}
	return p.TokenID
}

const workspacePrefix = "workspace:"

// privileged reports whether p sees every scope and may edit any scope's assignments: owners and the
// admin ("This grant can always be removed by other scope Managers or Tecton Admins"). It gives no
// access to values.
func privileged(p domain.Principal) bool {
	return p.Role == domain.RoleAdmin || p.Role == domain.RoleOwner
}

// act is what a caller wants to do on a scope, for the scope permission table.
type act int

const (
	actView      act = iota // read the scope itself
	actEditRoles            // view and edit role assignments
	actDelete               // delete the scope
	actWrite                // create, update, delete and list secrets
	actRead                 // read secret values
)

// needs is the weakest role that may act; privileged callers may also view and edit roles.
var needs = map[act]domain.ScopeRole{
	actView:      domain.ScopeReader,
	actEditRoles: domain.ScopeManager,
	actDelete:    domain.ScopeManager,
	actWrite:     domain.ScopeWriter,
	actRead:      domain.ScopeReader,
}

// authorize finds the scope named name and checks that p may act on it. A caller with no role (and
// no privilege) gets 404, as if the scope did not exist; one with a role too weak gets 403
// secret_scope_role_required naming the weakest role that would do.
func (s *Service) authorize(ctx context.Context, q *store.Q, p domain.Principal, orgID, name string, a act) (domain.SecretScope, error) {
	if p.Role == domain.RoleWorkspace && a != actRead {
		return domain.SecretScope{}, ErrWorkspaceToken
	}
	if !namePattern.MatchString(name) {
		return domain.SecretScope{}, domain.NotFound("secret scope")
	}
	scope, err := q.Scope(ctx, orgID, name)
	if err != nil {
		return scope, err
	}
	role, err := q.ScopeRole(ctx, scope.ID, holder(p))
	if err != nil {
		return scope, err
	}
	if role == "" && !privileged(p) {
		return domain.SecretScope{}, domain.NotFound("secret scope")
	}
	need := needs[a]
	if role.AtLeast(need) || (privileged(p) && (a == actView || a == actEditRoles)) {
		return scope, nil
	}
	e := domain.Errorf(domain.KindForbidden, domain.CodeSecretScopeRoleRequired,
		"this needs the %s role on secret scope %q", need, scope.Name)
	e.Details = map[string]any{"required": string(need)}
	return scope, e
}

// scopeEvent is an event about a scope; details adds to {"scope": name}.
func scopeEvent(p domain.Principal, scope domain.SecretScope, typ string, details map[string]any) domain.Event {
	d := map[string]any{"scope": scope.Name}
	for k, v := range details {
		d[k] = v
	}
	return domain.Event{OrgID: scope.OrgID, Type: typ, Actor: p.Actor(), Details: d}
}

// CreateScope makes a scope; its creator becomes its manager ("Everyone … can create a secret scope").
func (s *Service) CreateScope(ctx context.Context, p domain.Principal, orgID, name string) (domain.SecretScope, error) {
	if p.Role == domain.RoleWorkspace {
		return domain.SecretScope{}, ErrWorkspaceToken
	}
	if err := validName(name); err != nil {
		return domain.SecretScope{}, err
	}
	scope := domain.SecretScope{ID: domain.NewID("scp"), OrgID: orgID, Name: name, CreatedBy: holder(p)}
	err := s.cfg.Store.InTxWithin(ctx, store.LimitedSecretScopes, orgID, s.cfg.Limits.SecretScopes, func(tx *store.Q) error {
		scope.CreatedAt = tx.Now()
		if err := tx.InsertScope(ctx, scope); err != nil {
			return err
		}
		if err := tx.PutScopeRole(ctx, scope.ID, domain.RoleAssignment{Principal: holder(p), Role: domain.ScopeManager}, ""); err != nil {
			return err
		}
		return tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretScopeCreated, nil))
	})
	if err != nil {
		return domain.SecretScope{}, err
	}
	return scope, nil
}

// Scopes lists the scopes p holds a role on; owners and the admin see all.
func (s *Service) Scopes(ctx context.Context, p domain.Principal, orgID string, page domain.Page) ([]domain.SecretScope, string, error) {
	if p.Role == domain.RoleWorkspace {
		return nil, "", ErrWorkspaceToken
	}
	only := holder(p)
	if privileged(p) {
		only = ""
	}
	return s.cfg.Store.Scopes(ctx, orgID, only, page)
}

// Scope reads one scope p may see.
func (s *Service) Scope(ctx context.Context, p domain.Principal, orgID, name string) (domain.SecretScope, error) {
	return s.authorize(ctx, &s.cfg.Store.Q, p, orgID, name, actView)
}

// DeleteScope removes a scope with its secrets, role assignments and data keys (crypto-shredding its
// values), with its event, in one transaction. Managers only.
func (s *Service) DeleteScope(ctx context.Context, p domain.Principal, orgID, name string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		scope, err := s.authorize(ctx, tx, p, orgID, name, actDelete)
		if err != nil {
			return err
		}
		if err := tx.DeleteScope(ctx, orgID, scope.ID); err != nil {
			return err
		}
		n, err := tx.DeleteDataKeys(ctx, keyring.Secrets.Name, scope.ID)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretScopeDeleted, map[string]any{"data_keys_destroyed": n}))
	})
}

// Roles lists a scope's role assignments.
func (s *Service) Roles(ctx context.Context, p domain.Principal, orgID, name string) ([]domain.RoleAssignment, error) {
	scope, err := s.authorize(ctx, &s.cfg.Store.Q, p, orgID, name, actEditRoles)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.ScopeRoles(ctx, scope.ID)
}

// AssignRole gives a principal a role on a scope, replacing the one it had, and answers the scope's
// assignments. A workspace may only be reader.
func (s *Service) AssignRole(ctx context.Context, p domain.Principal, orgID, name string, a domain.RoleAssignment) ([]domain.RoleAssignment, error) {
	if !a.Role.Valid() {
		return nil, domain.Invalid("role", "role must be manager, writer or reader")
	}
	var roles []domain.RoleAssignment
	err := s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		scope, err := s.authorize(ctx, tx, p, orgID, name, actEditRoles)
		if err != nil {
			return err
		}
		workspaceID, err := s.assignable(ctx, tx, orgID, a)
		if err != nil {
			return err
		}
		if err := tx.PutScopeRole(ctx, scope.ID, a, workspaceID); err != nil {
			return err
		}
		if err := tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretScopeRoleAssigned,
			map[string]any{"principal": a.Principal, "role": string(a.Role)})); err != nil {
			return err
		}
		roles, err = tx.ScopeRoles(ctx, scope.ID)
		return err
	})
	return roles, err
}

func invalidPrincipal(format string, args ...any) error {
	e := domain.Errorf(domain.KindInvalid, domain.CodeInvalidPrincipal, format, args...)
	e.Details = map[string]any{"field": "principal"}
	return e
}

// assignable checks that a's principal exists in the organisation and may hold a's role; for a
// workspace it returns the workspace's id.
func (s *Service) assignable(ctx context.Context, tx *store.Q, orgID string, a domain.RoleAssignment) (string, error) {
	if ws, ok := strings.CutPrefix(a.Principal, workspacePrefix); ok {
		w, err := tx.Workspace(ctx, orgID, ws)
		if errors.Is(err, domain.ErrNotFound) || !namePattern.MatchString(ws) {
			return "", invalidPrincipal("the organisation has no workspace of that name")
		} else if err != nil {
			return "", err
		}
		if a.Role != domain.ScopeReader {
			e := domain.Errorf(domain.KindInvalid, domain.CodeWorkspaceRoleNotAllowed,
				"a workspace may only be reader of a secret scope; its jobs read secrets, they do not write them")
			e.Details = map[string]any{"field": "role"}
			return "", e
		}
		return w.ID, nil
	}
	switch {
	case a.Principal == "admin":
		return "", nil
	case !domain.HasPrefix(a.Principal, "tok"):
		return "", invalidPrincipal(`principal must be a token id ("tok_…"), "workspace:<name>" or "admin"`)
	}
	tok, err := tx.Token(ctx, orgID, a.Principal)
	if errors.Is(err, domain.ErrNotFound) {
		return "", invalidPrincipal("the organisation has no live token with that id")
	} else if err != nil {
		return "", err
	}
	if tok.Role == domain.RoleWorkspace {
		return "", invalidPrincipal(`a workspace token holds roles through its workspace: assign "workspace:%s"`, tok.Workspace)
	}
	return "", nil
}

// RemoveRole removes a principal's role on a scope.
func (s *Service) RemoveRole(ctx context.Context, p domain.Principal, orgID, name, principal string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		scope, err := s.authorize(ctx, tx, p, orgID, name, actEditRoles)
		if err != nil {
			return err
		}
		if !validPrincipal(principal) {
			return domain.NotFound("role assignment")
		}
		role, err := tx.DeleteScopeRole(ctx, scope.ID, principal)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretScopeRoleRemoved,
			map[string]any{"principal": principal, "role": string(role)}))
	})
}

// validPrincipal reports whether s is shaped like a principal an assignment could name, so that
// nothing else reaches a query.
func validPrincipal(s string) bool {
	if ws, ok := strings.CutPrefix(s, workspacePrefix); ok {
		return namePattern.MatchString(ws)
	}
	return s == "admin" || domain.HasPrefix(s, "tok")
}

// itemID binds a sealed value to its key and version: a value moved to another key, or presented as
// another version, fails to open. Keys never hold a NUL byte, so the pair encodes one way only.
func itemID(key string, version int) string {
	return key + "\x00" + strconv.Itoa(version)
}

func owner(scope domain.SecretScope) keyring.Owner {
	return keyring.Owner{Purpose: keyring.Secrets, OrgID: scope.OrgID, ID: scope.ID}
}

// wrappingKey is the KMS key that wraps an organisation's secret data keys: its home region's data
// key (domain.DataKeyOf), as for documents.
func (s *Service) wrappingKey(org domain.Org) string {
	return domain.DataKeyOf(org, org.Region, s.cfg.ProviderKeys)
}

// usable refuses at once when cmekd already knows the organisation's key is unusable, so
// that neither a write nor a read is served from a data key still in the cache.
func (s *Service) usable(ctx context.Context, org domain.Org) error {
	if org.Mode != domain.ModeCustomerManaged {
		return nil
	}
	keys, err := s.cfg.Store.KeyHealth(ctx, org.ID)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Region == org.Region && k.Purpose == domain.PurposeData && k.Status == domain.KeyUnavailable {
			pe := k.LastError
			if pe == nil {
				pe = &domain.ProbeError{Code: domain.CodeKeyStateInvalid, Message: "the key was found unusable"}
			}
			return domain.KeyUnavailableError(pe)
		}
	}
	return nil
}

func validKey(key string) error {
	if !keyPattern.MatchString(key) {
		return domain.Invalid("key", "key must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	return nil
}

// Put seals value as the next version of key: created reports a new key (201) rather than a
// replaced one (200). Writers and managers.
func (s *Service) Put(ctx context.Context, p domain.Principal, org domain.Org, name, key, value string) (meta domain.SecretMeta, created bool, err error) {
	scope, err := s.authorize(ctx, &s.cfg.Store.Q, p, org.ID, name, actWrite)
	if err != nil {
		return meta, false, err
	}
	if err := validKey(key); err != nil {
		return meta, false, err
	}
	if len(value) > MaxValueBytes {
		return meta, false, domain.Errorf(domain.KindTooLarge, domain.CodePayloadTooLarge,
			"a secret value may be at most %d bytes", MaxValueBytes)
	}
	if err := s.usable(ctx, org); err != nil {
		return meta, false, err
	}
	// Another write of the same key may commit between reading the version and storing the next:
	// then the value is sealed again for the version after that one.
	for range maxPutAttempts {
		current, err := s.cfg.Store.SecretVersion(ctx, scope.ID, key)
		if err != nil {
			return meta, false, err
		}
		sealed := store.SealedSecret{ScopeID: scope.ID, Key: key, OrgID: org.ID, Version: current + 1, AADVersion: keyring.SealVersion}
		err = s.cfg.Keyring.Seal(ctx, owner(scope), s.wrappingKey(org), 1, func(box *keyring.Box) error {
			var err error
			sealed.DataKeyID = box.DataKeyID()
			sealed.Nonce, sealed.Ciphertext, err = box.Seal(itemID(key, sealed.Version), []byte(value))
			return err
		})
		if err != nil {
			return meta, false, err
		}
		stored := false
		err = s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
			if err := s.lockScope(ctx, tx, org.ID, scope.ID, sealed.Version == 1); err != nil {
				return err
			}
			sealed.UpdatedAt = tx.Now()
			if sealed, stored, err = tx.PutSecret(ctx, sealed); err != nil || !stored {
				return err
			}
			return tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretWritten,
				map[string]any{"key": key, "version": sealed.Version}))
		})
		if err != nil {
			return meta, false, err
		}
		if stored {
			return sealed.Meta(), sealed.Version == 1, nil
		}
	}
	return meta, false, errContended
}

// lockScope holds the scope for a write of one of its keys; for a new key, against other new keys
// too, so that the count of its keys stays within the limit.
func (s *Service) lockScope(ctx context.Context, tx *store.Q, orgID, scopeID string, newKey bool) error {
	if !newKey {
		_, err := tx.ShareScope(ctx, orgID, scopeID)
		return err
	}
	n, err := tx.CountScopeSecretsForLimit(ctx, orgID, scopeID)
	if err != nil {
		return err
	}
	return domain.WithinLimit("secrets in this scope", s.cfg.Limits.SecretsPerScope, n)
}

// maxPutAttempts bounds how often Put seals again after losing a race for the same key.
const maxPutAttempts = 16

var errContended = &domain.Error{Kind: domain.KindUnavailable, Code: domain.CodeUnavailable,
	Message: "other writes of this secret kept winning; retry shortly", RetryAfter: 1}

// List lists a scope's keys, versions and times, never values. Writers and managers.
func (s *Service) List(ctx context.Context, p domain.Principal, orgID, name string, page domain.Page) ([]domain.SecretMeta, string, error) {
	scope, err := s.authorize(ctx, &s.cfg.Store.Q, p, orgID, name, actWrite)
	if err != nil {
		return nil, "", err
	}
	return s.cfg.Store.Secrets(ctx, scope.ID, page)
}

// Read decrypts one secret's value and records secret.read with the reader. Readers (workspaces
// included), writers and managers. A value moved to another row, scope or version fails closed.
func (s *Service) Read(ctx context.Context, p domain.Principal, org domain.Org, name, key string) (domain.Secret, error) {
	scope, err := s.authorize(ctx, &s.cfg.Store.Q, p, org.ID, name, actRead)
	if err != nil {
		return domain.Secret{}, err
	}
	if !keyPattern.MatchString(key) {
		return domain.Secret{}, domain.NotFound("secret")
	}
	if err := s.usable(ctx, org); err != nil {
		return domain.Secret{}, err
	}
	sealed, err := s.cfg.Store.Secret(ctx, scope.ID, key)
	if err != nil {
		return domain.Secret{}, err
	}
	var out domain.Secret
	err = s.cfg.Keyring.Open(ctx, owner(scope), s.wrappingKey(org), sealed.DataKeyID, func(box *keyring.Box) error {
		plain, err := box.Open(itemID(sealed.Key, sealed.Version), sealed.AADVersion, sealed.Nonce, sealed.Ciphertext)
		if err != nil {
			return err
		}
		out = domain.Secret{SecretMeta: sealed.Meta(), Value: string(plain)}
		return nil
	})
	if errors.Is(err, keyring.ErrIntegrity) {
		return domain.Secret{}, errCorrupt
	}
	if err != nil {
		return domain.Secret{}, err
	}
	// No event, no value: the read is answered only once it is on record.
	if err := s.cfg.Store.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretRead,
		map[string]any{"key": key, "version": sealed.Version})); err != nil {
		return domain.Secret{}, err
	}
	return out, nil
}

// DeleteSecret removes a secret. Writers and managers.
func (s *Service) DeleteSecret(ctx context.Context, p domain.Principal, orgID, name, key string) error {
	return s.cfg.Store.InTx(ctx, func(tx *store.Q) error {
		scope, err := s.authorize(ctx, tx, p, orgID, name, actWrite)
		if err != nil {
			return err
		}
		if !keyPattern.MatchString(key) {
			return domain.NotFound("secret")
		}
		version, err := tx.DeleteSecret(ctx, scope.ID, key)
		if err != nil {
			return err
		}
		return tx.InsertEvent(ctx, scopeEvent(p, scope, domain.EventSecretDeleted,
			map[string]any{"key": key, "version": version}))
	})
}
