package domain

import "time"

// Workspace is a principal of materialization jobs: its tokens may read the secrets of
// scopes it was granted.
type Workspace struct {
	ID        string
	OrgID     string
	Name      string
	CreatedAt time.Time
}

// SecretScope groups an organisation's secrets; access is given per scope.
type SecretScope struct {
	ID        string
	OrgID     string
	Name      string
	CreatedBy string // the creating token's id, or "admin"
	CreatedAt time.Time
}

// ScopeRole is a role on a secret scope. The zero value is no role.
type ScopeRole string

// Scope roles, weakest first.
const (
	ScopeReader  ScopeRole = "reader"
	ScopeWriter  ScopeRole = "writer"
	ScopeManager ScopeRole = "manager"
)

var scopeRank = map[ScopeRole]int{ScopeReader: 1, ScopeWriter: 2, ScopeManager: 3}

// Valid reports whether r is a role a scope assignment may hold.
func (r ScopeRole) Valid() bool { return scopeRank[r] > 0 }

// AtLeast reports whether r grants everything min grants.
func (r ScopeRole) AtLeast(min ScopeRole) bool { return scopeRank[r] >= scopeRank[min] }

// RoleAssignment is one principal's role on a scope. Principal is named as the API names it: a token
// id, "admin", or "workspace:<name>".
type RoleAssignment struct {
	Principal string
	Role      ScopeRole
}

// SecretMeta is what may be shown of a secret without its value.
type SecretMeta struct {
	Key       string
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Secret is a secret with its decrypted value, for the one answer that shows it.
type Secret struct {
	SecretMeta
	Value string
}
