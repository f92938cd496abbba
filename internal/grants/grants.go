// Package grants is the life of the data identity's KMS grants: attaching one to a key
// for the verifier, recording and listing an organisation's grants, renewing those the customer
// revoked, and retiring them durably when the organisation is deleted (Retirer).
package grants

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/keypolicy"
	"github.com/cmekd/cmekd/internal/kms"
	"github.com/cmekd/cmekd/internal/store"
	"github.com/cmekd/cmekd/internal/verify"
)

// Name is the name of the grant of an organisation's key of a region and purpose. A named grant is
// idempotent in KMS: the same request again answers the same grant while it exists.
func Name(orgID, region, purpose string) string {
	return "cmekd-" + orgID + "-" + region + "-" + purpose
}

// CheckName is a fresh name for a key check's grant: key checks of one key may run at once, and each
// retires its own grant when it ends.
func CheckName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "cmekd-keycheck-" + hex.EncodeToString(b[:])
}

// Granter attaches and retires grants as the control identity, for the data identity.
type Granter struct {
	control, data             *kms.Client
	controlPrincipal, dataARN string
	store                     *store.Store
	log                       *slog.Logger
}

var _ verify.Granter = (*Granter)(nil)

// GranterConfig configures a Granter.
type GranterConfig struct {
	// Control is the control identity's client (CMEKD_PLATFORM_PRINCIPAL); Data the data identity's.
	Control, Data *kms.Client
	// ControlPrincipal retires the grants; DataPrincipal is their grantee.
	ControlPrincipal, DataPrincipal string
	// Store queues the retirements KMS could not confirm at once.
	Store  *store.Store
	Logger *slog.Logger
}

// NewGranter returns a Granter.
func NewGranter(cfg GranterConfig) *Granter {
	return &Granter{control: cfg.Control, data: cfg.Data, controlPrincipal: cfg.ControlPrincipal, dataARN: cfg.DataPrincipal,
		store: cfg.Store, log: cfg.Logger}
}

// Request is the data identity's grant for orgID: the data identity may perform exactly the data
// operations, only with the organisation's encryption context, and the control identity retires it.
func (g *Granter) Request(name, orgID string) kms.GrantRequest {
	return kms.GrantRequest{Name: name, Grantee: g.dataARN, Retiring: g.controlPrincipal,
		Operations: keypolicy.GrantOperations, ContextSubset: map[string]string{"cmekd:org": orgID}}
}

// Attach makes the grant and gives its token to the data identity's client, so that the first calls
// through it succeed before KMS has made it visible everywhere.
func (g *Granter) Attach(ctx context.Context, keyARN, name, orgID string) (kms.Grant, error) {
	gr, err := g.control.CreateGrant(ctx, keyARN, g.Request(name, orgID))
	if err != nil {
		return gr, err
	}
	g.data.AddGrantToken(keyARN, gr.ID, gr.Token)
	return gr, nil
}

// Release retires a grant nobody keeps. When KMS does not confirm it now, the grant goes into the
// retirement worker's outbox, so that it is retired all the same. A grant on record as a link's is
// kept: a named grant is the same grant for every request of its name, so a concurrent request for
// the same link (a duplicate region, a second renewal) may have recorded the very grant this
// caller's failure would release.
func (g *Granter) Release(ctx context.Context, keyARN, grantID string) {
	kept, err := g.store.GrantKept(ctx, grantID)
	if err != nil {
		// Retiring a grant a link may hold would cut the organisation off; a grant left behind
		// serves only its organisation's context, and the log names it for the operator.
		g.log.ErrorContext(ctx, "a grant was left in place: the database could not say whether a link holds it", "key_arn", keyARN,
			"grant_id", grantID, "error", err.Error())
		return
	}
	if kept {
		return
	}
	_, err = g.control.RetireGrant(ctx, keyARN, grantID)
	if err == nil {
		return
	}
	region := ""
	if a, perr := keyarn.Parse(keyARN); perr == nil {
		region = a.Region
	}
	if qerr := g.store.QueueGrantRetirement(ctx, grantID, keyARN, region); qerr != nil {
		g.log.ErrorContext(ctx, "a grant could be neither retired nor queued for retirement", "key_arn", keyARN,
			"grant_id", grantID, "error", errors.Join(err, qerr).Error())
		return
	}
	g.log.WarnContext(ctx, "grant retirement queued", "key_arn", keyARN, "grant_id", grantID, "error", err.Error())
}

// Held reports whether the organisation's grant on keyARN still lets the data identity use the key:
// an Encrypt under the organisation's context, which only its grant admits. A key the customer
// disabled or scheduled for deletion answers before any grant matters; it counts as held (renewing
// cannot help). ok is false only for access denied or a key gone.
func (g *Granter) Held(ctx context.Context, keyARN, orgID string) (bool, error) {
	_, err := g.data.Encrypt(ctx, keyARN, []byte{0}, map[string]string{"cmekd:org": orgID})
	var ke *kms.Error
	if err == nil {
		return true, nil
	}
	if !errors.As(err, &ke) || ke.Transient() {
		return false, err
	}
	switch ke.Code {
	case domain.CodeAccessDenied, domain.CodeKeyNotFound:
		return false, nil
	}
	return true, nil
}

// Made is a grant a verification attached to a linked key, for the transaction that records it.
type Made struct {
	Link  domain.KeyLink
	Grant verify.Grant
}

// Record stores the grants made for new key links with a grant.created event each, inside the
// transaction that links the keys. A grant already on record (KMS answered a named grant again) is
// not recorded twice.
func Record(ctx context.Context, tx *store.Q, actor, grantee string, made []Made) error {
	for _, m := range made {
		g := domain.Grant{ID: m.Grant.ID, OrgID: m.Link.OrgID, Name: m.Grant.Name, KeyARN: m.Link.KeyARN, Region: m.Link.Region,
			Purpose: m.Link.Purpose, GranteePrincipal: grantee, Operations: keypolicy.GrantOperations, Token: m.Grant.Token}
		inserted, err := tx.InsertGrant(ctx, g)
		if err != nil {
			return err
		}
		if !inserted {
			continue
		}
		if err := tx.InsertEvent(ctx, domain.Event{OrgID: g.OrgID, Type: domain.EventGrantCreated, Actor: actor, Region: g.Region,
			Purpose: g.Purpose, Reason: g.Name, Details: map[string]any{"grant_id": g.ID, "key_arn": g.KeyARN}}); err != nil {
			return err
		}
	}
	return nil
}
