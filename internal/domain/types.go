package domain

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// Role is what an organisation token may do. The admin is not a stored role.
type Role string

// Roles, weakest first.
const (
	RoleMember   Role = "member"
	RoleOperator Role = "operator"
	RoleOwner    Role = "owner"
	RoleAdmin    Role = "admin"
	// RoleWorkspace is a workspace's token: it may read the values of secrets its
	// workspace was granted, and nothing else. It ranks below every other role.
	RoleWorkspace Role = "workspace"
)

var roleRank = map[Role]int{RoleMember: 1, RoleOperator: 2, RoleOwner: 3, RoleAdmin: 4}

// Valid reports whether r is a role an organisation token may hold.
func (r Role) Valid() bool {
	return r == RoleMember || r == RoleOperator || r == RoleOwner || r == RoleWorkspace
}

// AtLeast reports whether r grants everything min grants.
func (r Role) AtLeast(min Role) bool { return roleRank[r] >= roleRank[min] }

// Encryption modes of an organisation.
const (
	ModeCustomerManaged = "customer_managed"
	ModeProviderManaged = "provider_managed"
)

// Key purposes of a key link: the data key seals a region's collections; the optional
// backup key wraps the data keys of the region's backups.
const (
	PurposeData   = "data"
	PurposeBackup = "backup"
)

// Key health statuses (key-status).
const (
	KeyHealthy     = "healthy"
	KeyUnavailable = "unavailable"
	KeyUnknown     = "unknown"
)

// Org is a customer organisation.
type Org struct {
	ID        string
	Name      string
	Region    string
	Mode      string
	KeyARN    string // the home region's data key; empty for provider_managed
	KeyStatus string
	CreatedAt time.Time
	// Regions are the regions the organisation uses, home first.
	Regions []string
	// Links are its key links, every region and purpose; none for provider_managed.
	Links []KeyLink
	// BackupKeyARN is the home region's backup key; empty when it has none. Set on creation only.
	BackupKeyARN string
}

// LinkedKey is the key linked for region and purpose, and whether there is one.
func (o Org) LinkedKey(region, purpose string) (string, bool) {
	for _, l := range o.Links {
		if l.Region == region && l.Purpose == purpose {
			return l.KeyARN, true
		}
	}
	if region == o.Region && purpose == PurposeData && o.KeyARN != "" {
		return o.KeyARN, true // an organisation value made without its links
	}
	return "", false
}

// HasRegion reports whether the organisation uses region.
func (o Org) HasRegion(region string) bool {
	if region == o.Region {
		return true
	}
	for _, r := range o.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// Region is one region an organisation uses, with its key links.
type Region struct {
	OrgID        string
	Region       string
	Home         bool
	KeyARN       string // the data key; empty for provider_managed
	BackupKeyARN string // empty when the region has no backup key
	// Status is the data key's health (provider_managed: the platform key's).
	Status    string
	CreatedAt time.Time
}

// Links are the region's key links: its data key (none for provider_managed) and its backup key,
// when it names one.
func (r Region) Links() []KeyLink {
	var out []KeyLink
	for _, l := range []KeyLink{
		{OrgID: r.OrgID, Region: r.Region, Purpose: PurposeData, KeyARN: r.KeyARN, CreatedAt: r.CreatedAt},
		{OrgID: r.OrgID, Region: r.Region, Purpose: PurposeBackup, KeyARN: r.BackupKeyARN, CreatedAt: r.CreatedAt},
	} {
		if l.KeyARN != "" {
			out = append(out, l)
		}
	}
	return out
}

// KeyLink binds an organisation, in one region and for one purpose, to a key ARN, for good.
type KeyLink struct {
	OrgID     string
	Region    string
	Purpose   string
	KeyARN    string
	CreatedAt time.Time
}

// Token is an organisation's API token; the secret itself is never stored.
type Token struct {
	ID    string
	OrgID string
	Name  string
	Role  Role
	// WorkspaceID and Workspace name the workspace of a workspace token; empty otherwise.
	WorkspaceID string
	Workspace   string
	CreatedAt   time.Time
}

// Principal is who is calling: the platform admin or an organisation token.
type Principal struct {
	Role    Role
	OrgID   string // empty for the admin
	TokenID string // empty for the admin
	// Workspace is the name of a workspace token's workspace; empty otherwise.
	Workspace string
}

// Actor names the principal in events.
func (p Principal) Actor() string {
	if p.Role == RoleAdmin {
		return "admin"
	}
	return "token:" + p.TokenID
}

// CanSeeOrg reports whether p may read organisation orgID at all.
func (p Principal) CanSeeOrg(orgID string) bool {
	return p.Role == RoleAdmin || p.OrgID == orgID
}

// Event is one entry of an organisation's audit trail.
type Event struct {
	// Seq is the event's position in the audit trail: later events have greater ones.
	Seq    int64
	ID     string
	OrgID  string
	Type   string
	At     time.Time
	Actor  string
	Region string
	// Purpose is the purpose of the key a key event is about (data or backup); empty otherwise.
	Purpose      string
	CollectionID string
	FromState    string
	ToState      string
	Reason       string
	// Details holds what the event's type concerns, e.g. {"scope", "key", "version"} of a secret; never
	// a secret. Nil is stored and shown as an empty object.
	Details map[string]any
	// WebhookID names the endpoint a webhook.test or webhook.disabled event is about.
	WebhookID string
}

// EventBody is an event as clients see it: an entry of the events list, and the data of a webhook
// delivery. String fields that do not apply are empty.
type EventBody struct {
	ID           string    `json:"id"`
	OrgID        string    `json:"org_id"`
	Type         string    `json:"type"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	Region       string    `json:"region"`
	Purpose      string    `json:"purpose"`
	CollectionID string    `json:"collection_id"`
	FromState    string    `json:"from_state"`
	ToState      string    `json:"to_state"`
	Reason       string    `json:"reason"`
	WebhookID    string    `json:"webhook_id"`
	// Details is always an object: {"scope", "key", "version"} of a secret, say.
	Details map[string]any `json:"details"`
}

// Body is the event as clients see it.
func (e Event) Body() EventBody {
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	return EventBody{ID: e.ID, OrgID: e.OrgID, Details: details, Type: e.Type, At: e.At, Actor: e.Actor, Region: e.Region, Purpose: e.Purpose, CollectionID: e.CollectionID,
		FromState: e.FromState, ToState: e.ToState, Reason: e.Reason, WebhookID: e.WebhookID}
}

// Event types.
const (
	EventOrgCreated            = "org.created"
	EventOrgDeleted            = "org.deleted"
	EventOrgRenamed            = "org.renamed"
	EventKeyVerified           = "key.verified"
	EventKeyUnavailable        = "key.unavailable"
	EventKeyRestored           = "key.restored"
	EventKeyProbeError         = "key.probe_error"
	EventCollectionCreated     = "collection.created"
	EventCollectionHalted      = "collection.ingest_halted"
	EventCollectionPaused      = "collection.paused"
	EventCollectionReactivated = "collection.reactivated"
	EventCollectionResumed     = "collection.resumed"
	EventCollectionDeleted     = "collection.deleted"
	EventTokenCreated          = "token.created"
	EventTokenRevoked          = "token.revoked"

	// Regions and backups.
	EventRegionLinked   = "region.linked"
	EventBackupCreated  = "backup.created"
	EventBackupDeleted  = "backup.deleted"
	EventBackupRestored = "backup.restored"

	// Workspaces and secret scopes.
	EventWorkspaceCreated        = "workspace.created"
	EventWorkspaceDeleted        = "workspace.deleted"
	EventSecretScopeCreated      = "secret_scope.created"
	EventSecretScopeDeleted      = "secret_scope.deleted"
	EventSecretScopeRoleAssigned = "secret_scope.role_assigned"
	EventSecretScopeRoleRemoved  = "secret_scope.role_removed"
	EventSecretWritten           = "secret.written"
	EventSecretDeleted           = "secret.deleted"
	EventSecretRead              = "secret.read"
	EventWebhookDisabled         = "webhook.disabled"
	EventWebhookTest             = "webhook.test"
	// Grant events carry {"grant_id", "key_arn"} in Details.
	EventGrantCreated = "grant.created"
	EventGrantRetired = "grant.retired"
)

// EventKeyEventReceived is a cloud key event about a linked key: a hint that made cmekd probe the
// key at once (details: event_name, event_id). The probe, not the event, decides.
const EventKeyEventReceived = "key.event_received"

// EventTypes lists every event type, for validating the events filter.
var EventTypes = []string{
	EventOrgCreated, EventOrgDeleted, EventOrgRenamed, EventKeyVerified, EventKeyUnavailable, EventKeyRestored,
	EventKeyProbeError, EventKeyEventReceived, EventCollectionCreated, EventCollectionHalted, EventCollectionPaused,
	EventCollectionReactivated, EventCollectionResumed, EventCollectionDeleted, EventTokenCreated,
	EventTokenRevoked, EventRegionLinked, EventBackupCreated, EventBackupDeleted, EventBackupRestored,
	EventWorkspaceCreated, EventWorkspaceDeleted, EventSecretScopeCreated,
	EventSecretScopeDeleted, EventSecretScopeRoleAssigned, EventSecretScopeRoleRemoved, EventSecretWritten,
	EventSecretDeleted, EventSecretRead,
	EventWebhookDisabled, EventWebhookTest,
	EventGrantCreated, EventGrantRetired,
}

// Webhook endpoint statuses.
const (
	WebhookActive   = "active"
	WebhookDisabled = "disabled"
)

// Webhook is an organisation's webhook endpoint; its secret is never part of it.
type Webhook struct {
	ID        string
	OrgID     string
	URL       string
	Events    []string // event types, or "*" for all
	Status    string
	CreatedAt time.Time
}

// WebhookDelivery is one attempt to deliver an event to an endpoint.
type WebhookDelivery struct {
	ID        string
	WebhookID string
	EventID   string
	Type      string
	Attempt   int
	At        time.Time
	// StatusCode is the receiver's HTTP status; 0 when no answer came (refused, timed out).
	StatusCode int
	Latency    time.Duration
	Error      string
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns an opaque id with a type prefix such as "org": 80 random bits.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// HasPrefix reports whether id is shaped like an id of that prefix.
func HasPrefix(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 16 {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}

// ProviderKeys are the platform's own keys (CMEKD_PROVIDER_KEY_ARN): at most one per region, each a
// full key ARN. They wrap the data keys of provider_managed organisations.
type ProviderKeys []string

// Wrapping is the platform key that wraps a provider_managed organisation's data keys in region, its
// home region being home: the key listed for that region, or else, for the home region only, the
// first key listed (the platform's default key, which serves every organisation's home region).
func (p ProviderKeys) Wrapping(home, region string) string {
	if arn, ok := p.For(region); ok {
		return arn
	}
	if region == home && len(p) > 0 {
		return p[0]
	}
	return ""
}

// For is the platform's key of region, and whether it lists one there.
func (p ProviderKeys) For(region string) (string, bool) {
	for _, a := range p {
		if arnRegion(a) == region {
			return a, true
		}
	}
	return "", false
}

// arnRegion is the region field of a key ARN (arn:<partition>:kms:<region>:…); "" for anything else.
func arnRegion(arn string) string {
	if f := strings.SplitN(arn, ":", 5); len(f) == 5 {
		return f[3]
	}
	return ""
}

// DataKeyOf is the KMS key that wraps the data keys of org's collections (and secrets) in region: the
// region's linked data key, or for provider_managed organisations the platform's key that
// ProviderKeys.Wrapping names. "" when there is none.
func DataKeyOf(org Org, region string, provider ProviderKeys) string {
	if org.Mode == ModeCustomerManaged {
		arn, _ := org.LinkedKey(region, PurposeData)
		return arn
	}
	return provider.Wrapping(org.Region, region)
}

// BackupKeyOf is the KMS key that wraps the data keys of org's backups in region, and the purpose of
// its link: the region's backup key when it has one, else the key DataKeyOf names.
func BackupKeyOf(org Org, region string, provider ProviderKeys) (arn, purpose string) {
	if org.Mode == ModeCustomerManaged {
		if arn, ok := org.LinkedKey(region, PurposeBackup); ok {
			return arn, PurposeBackup
		}
	}
	return DataKeyOf(org, region, provider), PurposeData
}

// Grant statuses.
const (
	GrantActive   = "active"
	GrantRetiring = "retiring"
	GrantRetired  = "retired"
)

// Grant is a KMS grant cmekd attached to a linked key for the data identity.
type Grant struct {
	ID               string
	OrgID            string
	Name             string
	KeyARN           string
	Region           string
	Purpose          string
	GranteePrincipal string
	Operations       []string
	Status           string
	CreatedAt        time.Time
	// Token is the grant token CreateGrant answered, for the data identity's first calls; never shown.
	Token string
}

// Key providers, by name.
const (
	ProviderAWS   = "aws"
	ProviderGCP   = "gcp"
	ProviderAzure = "azure"
)

// ProviderOf is the provider a key id belongs to by its shape: an ARN is AWS's, a resource name
// under projects/ Google Cloud's, an https URL Azure's; "" when it is none of them.
func ProviderOf(keyID string) string {
	switch {
	case strings.HasPrefix(keyID, "arn:"):
		return ProviderAWS
	case strings.HasPrefix(keyID, "projects/"):
		return ProviderGCP
	case len(keyID) >= 8 && strings.EqualFold(keyID[:8], "https://"):
		return ProviderAzure
	}
	return ""
}

// KeyScope is who owns a key, as far as its id tells: an AWS account, a Google Cloud project, an
// Azure vault's host; "" when the id tells none.
func KeyScope(keyID string) string {
	switch ProviderOf(keyID) {
	case ProviderAWS:
		if parts := strings.Split(keyID, ":"); len(parts) >= 6 {
			return "aws:" + parts[4]
		}
	case ProviderGCP:
		if parts := strings.Split(keyID, "/"); len(parts) >= 2 && parts[1] != "" {
			return "gcp:" + parts[1]
		}
	case ProviderAzure:
		if host, _, _ := strings.Cut(keyID[8:], "/"); host != "" {
			return "azure:" + strings.ToLower(host)
		}
	}
	return ""
}

// KeyEvents is an organisation's delivery of its keys' cloud events (AWS EventBridge): the hints
// that make cmekd probe a key at once. The api key itself is never stored, only its keyed hash.
type KeyEvents struct {
	OrgID          string
	APIKeyHash     []byte
	EventsReceived int64
	EventsMatched  int64
	LastEventAt    *time.Time
	LastEventName  string
	CreatedAt      time.Time
}
