package api

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/keyarn"
	"github.com/cmekd/cmekd/internal/store"
)

type orgJSON struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Region     string         `json:"region"`
	Encryption encryptionJSON `json:"encryption"`
	CreatedAt  time.Time      `json:"created_at"`
}

type encryptionJSON struct {
	Mode   string `json:"mode"`
	KeyARN string `json:"key_arn,omitempty"`
	Status string `json:"status"`
}

func toOrgJSON(o domain.Org) orgJSON {
	return orgJSON{ID: o.ID, Name: o.Name, Region: o.Region, CreatedAt: o.CreatedAt,
		Encryption: encryptionJSON{Mode: o.Mode, KeyARN: o.KeyARN, Status: o.KeyStatus}}
}

type createOrgRequest struct {
	Name       string `json:"name"`
	Region     string `json:"region"`
	Encryption *struct {
		Mode   string `json:"mode"`
		KeyARN string `json:"key_arn"`
	} `json:"encryption"`
}

// validName trims a display name and checks it: 1–100 characters, no control characters.
func validName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > 100 {
		return "", domain.Invalid(field, "%s must be 1 to 100 characters", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", domain.Invalid(field, "%s must not contain control characters", field)
		}
	}
	return s, nil
}

// checkRegion refuses a region this deployment does not serve.
func (a *API) checkRegion(region string) error {
	if region == "" {
		return domain.Invalid("region", "region is required, e.g. \"us-west-2\"")
	}
	for _, r := range a.rules.Regions {
		if r == region {
			return nil
		}
	}
	e := domain.Errorf(http.StatusUnprocessableEntity, keyarn.CodeUnsupportedRegion,
		"region %q is not served by this deployment", truncate(region, 40))
	e.Details = map[string]any{"regions": a.rules.Regions}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// arnError turns a key ARN rule violation into its 422.
func arnError(err error) error {
	var e *keyarn.Error
	if errors.As(err, &e) {
		return domain.Errorf(http.StatusUnprocessableEntity, e.Code, "%s", e.Message)
	}
	return err
}

// newOrg validates a create request into the organisation to store (no verification yet).
func (a *API) newOrg(req createOrgRequest) (domain.Org, error) {
	name, err := validName("name", req.Name)
	if err != nil {
		return domain.Org{}, err
	}
	if err := a.checkRegion(req.Region); err != nil {
		return domain.Org{}, err
	}
	o := domain.Org{ID: domain.NewID("org"), Name: name, Region: req.Region, Mode: domain.ModeProviderManaged, KeyStatus: domain.KeyHealthy}
	if req.Encryption == nil {
		return o, nil
	}
	switch req.Encryption.Mode {
	case domain.ModeProviderManaged:
		if req.Encryption.KeyARN != "" {
			return o, domain.Invalid("encryption.key_arn", "key_arn is only given with mode customer_managed")
		}
	case domain.ModeCustomerManaged:
		if strings.TrimSpace(req.Encryption.KeyARN) == "" {
			return o, domain.Errorf(http.StatusUnprocessableEntity, keyarn.CodeKeyARNRequired,
				"encryption.key_arn is required with mode customer_managed: give the full key ARN, arn:aws:kms:<region>:<account>:key/<key-id>")
		}
		arn, err := a.rules.Check(req.Encryption.KeyARN, req.Region)
		if err != nil {
			return o, arnError(err)
		}
		o.Mode, o.KeyARN, o.KeyStatus = domain.ModeCustomerManaged, arn.String(), domain.KeyHealthy
	default:
		return o, domain.Invalid("encryption.mode", "encryption.mode must be customer_managed or provider_managed")
	}
	return o, nil
}

func (a *API) createOrg(w http.ResponseWriter, r *http.Request) {
	var req createOrgRequest
	raw, err := decodeBody(r, &req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	idem, answered := a.replayed(w, r, "orgs", raw)
	if answered {
		return
	}
	o, err := a.newOrg(req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if o.Mode == domain.ModeCustomerManaged {
		if err := a.verifyNewKey(r, o); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	var body []byte
	err = a.store.InTx(r.Context(), func(tx *store.Tx) error {
		o.CreatedAt = tx.Now()
		if err := tx.InsertOrg(r.Context(), o); err != nil {
			return err
		}
		actor := principal(r.Context()).Actor()
		if err := tx.InsertEvent(r.Context(), domain.Event{OrgID: o.ID, Type: domain.EventOrgCreated, Actor: actor, Region: o.Region}); err != nil {
			return err
		}
		if o.Mode == domain.ModeCustomerManaged {
			if err := tx.InsertEvent(r.Context(), domain.Event{OrgID: o.ID, Type: domain.EventKeyVerified, Actor: actor,
				Region: o.Region, Reason: o.KeyARN}); err != nil {
				return err
			}
		}
		body, err = json.Marshal(toOrgJSON(o))
		if err != nil {
			return err
		}
		return idem.save(r.Context(), tx, http.StatusCreated, body)
	})
	if a.answer(w, r, idem, err, http.StatusCreated, body) {
		a.log.InfoContext(r.Context(), "organisation created", "request_id", requestID(r.Context()), "org_id", o.ID, "key_arn", o.KeyARN, "mode", o.Mode)
	}
}

func (a *API) listOrgs(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	p := principal(r.Context())
	only := ""
	if p.Role != domain.RoleAdmin {
		only = p.OrgID
	}
	orgs, next, err := a.store.Orgs(r.Context(), page, only)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]orgJSON, len(orgs))
	for i, o := range orgs {
		out[i] = toOrgJSON(o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"orgs": out, "next_cursor": next})
}

func (a *API) getOrg(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toOrgJSON(orgOf(r)))
}

type patchOrgRequest struct {
	Name       *string         `json:"name"`
	Encryption json.RawMessage `json:"encryption"`
}

func (a *API) patchOrg(w http.ResponseWriter, r *http.Request) {
	var req patchOrgRequest
	if _, err := decodeBody(r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	org := orgOf(r)
	if req.Encryption != nil {
		a.writeError(w, r, immutableKeyError(org, req.Encryption))
		return
	}
	if req.Name == nil {
		writeJSON(w, http.StatusOK, toOrgJSON(org))
		return
	}
	name, err := validName("name", *req.Name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	err = a.store.InTx(r.Context(), func(tx *store.Tx) error { return tx.RenameOrg(r.Context(), org.ID, name) })
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	org.Name = name
	writeJSON(w, http.StatusOK, toOrgJSON(org))
}

// immutableKeyError explains why a PATCH may not touch encryption: a provider-managed organisation
// asking for its own key needs a new organisation; any other change is a change of the key link.
func immutableKeyError(org domain.Org, enc json.RawMessage) error {
	var asked struct {
		Mode string `json:"mode"`
	}
	_ = json.Unmarshal(enc, &asked)
	if org.Mode == domain.ModeProviderManaged && asked.Mode == domain.ModeCustomerManaged {
		return domain.Errorf(http.StatusConflict, domain.CodeCMEKRequiresNewOrg,
			"customer-managed keys can only be set when an organisation is created: create a new organisation with encryption.mode customer_managed")
	}
	return domain.Errorf(http.StatusConflict, domain.CodeKeyLinkImmutable,
		"an organisation's key link is set at creation and linked for good; it cannot be changed or removed")
}

func (a *API) deleteOrg(w http.ResponseWriter, r *http.Request) {
	org := orgOf(r)
	err := a.store.InTx(r.Context(), func(tx *store.Tx) error {
		if err := tx.DeleteOrg(r.Context(), org.ID); err != nil {
			return err
		}
		return tx.InsertEvent(r.Context(), domain.Event{OrgID: org.ID, Type: domain.EventOrgDeleted,
			Actor: principal(r.Context()).Actor(), Region: org.Region})
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "organisation deleted", "request_id", requestID(r.Context()), "org_id", org.ID)
	w.WriteHeader(http.StatusNoContent)
}

// pageOf reads ?limit= (default 50, 1–500) and ?cursor=.
func pageOf(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return p, domain.Invalid("limit", "limit must be an integer from 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

// requestHash identifies a request body for idempotency.
func requestHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}
