package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cmekd/cmekd/internal/domain"
)

const healthSelect = `
SELECT h.org_id, h.region, h.purpose, k.key_arn, h.status, h.last_probe_at, h.last_ok_at, h.unavailable_since,
       h.last_error_code, h.last_error_action, h.last_error_message, h.next_probe_at, h.achieved_interval_s
FROM key_health h JOIN key_links k ON k.org_id = h.org_id AND k.region = h.region AND k.purpose = h.purpose`

func scanHealth(r pgx.Row) (domain.KeyHealth, error) {
	var h domain.KeyHealth
	var code, action, msg string
	var achieved *float64
	err := r.Scan(&h.OrgID, &h.Region, &h.Purpose, &h.KeyARN, &h.Status, &h.LastProbeAt, &h.LastOKAt, &h.UnavailableSince,
		&code, &action, &msg, &h.NextProbeAt, &achieved)
	if achieved != nil {
		d := time.Duration(*achieved * float64(time.Second))
		h.AchievedInterval = &d
	}
	if code != "" {
		h.LastError = &domain.ProbeError{Code: code, Action: action, Message: msg}
	}
	h.LastProbeAt, h.LastOKAt, h.UnavailableSince = utc(h.LastProbeAt), utc(h.LastOKAt), utc(h.UnavailableSince)
	h.NextProbeAt = h.NextProbeAt.UTC()
	return h, translate(err)
}

// KeyHealth lists an organisation's linked keys with their health: the home region first, then by
// region, the data key before the backup key.
func (q *Q) KeyHealth(ctx context.Context, orgID string) ([]domain.KeyHealth, error) {
	rows, err := q.db.Query(ctx, healthSelect+`
JOIN orgs o ON o.id = h.org_id
WHERE h.org_id = $1 ORDER BY h.region <> o.region, h.region, h.purpose = 'backup'`, orgID)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, scanHealth)
}

// LockKeyHealth reads one key's health and locks it: every state change of an organisation, region
// and purpose is serialised on this row.
func (q *Q) LockKeyHealth(ctx context.Context, orgID, region, purpose string) (domain.KeyHealth, error) {
	h, err := scanHealth(q.db.QueryRow(ctx, healthSelect+` WHERE h.org_id = $1 AND h.region = $2 AND h.purpose = $3 FOR UPDATE OF h`,
		orgID, region, purpose))
	if errors.Is(err, domain.ErrNotFound) {
		return h, domain.NotFound("key link")
	}
	return h, err
}

// ShareKeyHealth reads one key's health under a shared lock, so a concurrent state change finishes
// first (used when a new collection takes its first state from the region's data key).
func (q *Q) ShareKeyHealth(ctx context.Context, orgID, region, purpose string) (domain.KeyHealth, bool, error) {
	h, err := scanHealth(q.db.QueryRow(ctx, healthSelect+` WHERE h.org_id = $1 AND h.region = $2 AND h.purpose = $3 FOR SHARE OF h`,
		orgID, region, purpose))
	if errors.Is(err, domain.ErrNotFound) {
		return h, false, nil
	}
	return h, err == nil, err
}

// achievedInterval is the SET clause that records, with a probe at $2 (on the key_health row h, before
// the update), the seconds since the key's last probe.
const achievedInterval = `achieved_interval_s = CASE WHEN $2::timestamptz > h.last_probe_at
    THEN extract(epoch FROM $2::timestamptz - h.last_probe_at)::float8 ELSE h.achieved_interval_s END`

// SaveKeyHealth writes a key's health and releases the lease on it; a new probe time records the
// interval since the last one.
func (q *Q) SaveKeyHealth(ctx context.Context, h domain.KeyHealth) error {
	var code, action, msg string
	if h.LastError != nil {
		code, action, msg = h.LastError.Code, h.LastError.Action, h.LastError.Message
	}
	_, err := q.db.Exec(ctx, `
UPDATE key_health h SET status = $3, last_probe_at = $2, last_ok_at = $5, unavailable_since = $6,
    last_error_code = $7, last_error_action = $8, last_error_message = $9, next_probe_at = $10,
    lease_owner = '', lease_until = NULL,
    `+achievedInterval+`
WHERE org_id = $1 AND region = $4 AND purpose = $11`,
		h.OrgID, h.LastProbeAt, h.Status, h.Region, h.LastOKAt, h.UnavailableSince, code, action, msg, h.NextProbeAt, h.Purpose)
	return translate(err)
}

// HoldsLease reports whether owner still holds the lease on a key (inside the transaction that holds
// the row lock), so a probe result that arrives after its lease expired is dropped.
func (q *Q) HoldsLease(ctx context.Context, orgID, region, purpose, owner string, now time.Time) (bool, error) {
	var ok bool
	err := q.db.QueryRow(ctx, `SELECT lease_owner = $3 AND lease_until > $4 FROM key_health WHERE org_id = $1 AND region = $2 AND purpose = $5`,
		orgID, region, owner, now, purpose).Scan(&ok)
	if errors.Is(translate(err), domain.ErrNotFound) {
		return false, nil
	}
	return ok, translate(err)
}

// Due is a key claimed for probing.
type Due struct {
	OrgID, Region, Purpose, KeyARN string
	// Row is the version of the key's health row the claim left, by which SaveNoChanges finds it
	// without a lookup (when nothing changed the row since).
	Row RowVersion
	// Due is when the key's probe was due.
	Due time.Time
	// EventsAt is when the organisation's last key event arrived; nil when none ever did.
	EventsAt *time.Time
}

// RowVersion is where a version of a row is (its ctid); the zero value knows none.
type RowVersion struct{ tid pgtype.TID }

// ClaimDue leases up to limit keys whose probe is due and that no live lease holds, for owner until
// now+lease. Rows locked by another replica's claim are skipped, so replicas never claim the same key.
// The rows are updated by the row versions the claim locked (a TID scan), and each key's ARN read by
// its link's primary key: joined in the UPDATE's FROM instead, the planner hashed the whole of
// key_health and key_links on every claim, a cost that grew with the number of keys.
func (q *Q) ClaimDue(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Due, error) {
	return q.ClaimDueFrom(ctx, owner, now, time.Time{}, lease, limit)
}

// ClaimDueFrom is ClaimDue of the keys due at from or later: a sweep that claims batch after batch
// passes the time its last batch was due, so that each claim's index scan starts where the last one
// ended instead of walking again past the entries the sweep's own writes left dead (until vacuum) in
// front of it. A key due earlier that this sweep could not claim (another replica's) is that
// replica's, or the next sweep's.
func (q *Q) ClaimDueFrom(ctx context.Context, owner string, now, from time.Time, lease time.Duration, limit int) ([]Due, error) {
	rows, err := q.db.Query(ctx, `
WITH due AS (
    SELECT ctid FROM key_health
    WHERE next_probe_at <= $2 AND next_probe_at >= $5 AND (lease_until IS NULL OR lease_until <= $2)
    ORDER BY next_probe_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE key_health h SET lease_owner = $1, lease_until = $3
WHERE h.ctid = ANY (ARRAY(SELECT ctid FROM due))
RETURNING h.org_id, h.region, h.purpose,
    (SELECT k.key_arn FROM key_links k WHERE k.org_id = h.org_id AND k.region = h.region AND k.purpose = h.purpose), h.ctid,
    h.next_probe_at, (SELECT e.last_event_at FROM key_event_sources e WHERE e.org_id = h.org_id)`, owner, now, now.Add(lease), limit, from)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (Due, error) {
		var d Due
		err := r.Scan(&d.OrgID, &d.Region, &d.Purpose, &d.KeyARN, &d.Row.tid, &d.Due, &d.EventsAt)
		d.Due, d.EventsAt = d.Due.UTC(), utc(d.EventsAt)
		return d, err
	})
}

// UnavailableKeysSince lists the ARNs of linked keys found unavailable by a probe at or after
// since: every replica asks it every second to drop those keys' data keys from its cache.
// The partial index key_health_unavailable keeps it cheap however many keys are healthy.
func (q *Q) UnavailableKeysSince(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := q.db.Query(ctx, `
SELECT DISTINCT k.key_arn
FROM key_health h JOIN key_links k ON k.org_id = h.org_id AND k.region = h.region AND k.purpose = h.purpose
WHERE h.status = 'unavailable' AND h.last_probe_at >= $1`, since)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (string, error) {
		var arn string
		return arn, r.Scan(&arn)
	})
}

// ProbeSoon makes the organisation's keys linked as keyARN due for a probe now, unless the monitor
// already knows them unavailable (then a flood of refused requests causes no flood of probes). A
// provider-managed organisation has no linked key, and nothing changes.
func (q *Q) ProbeSoon(ctx context.Context, orgID, keyARN string) error {
	now := q.Now()
	_, err := q.db.Exec(ctx, `
UPDATE key_health h SET next_probe_at = $3
FROM key_links k
WHERE h.org_id = $1 AND k.org_id = h.org_id AND k.region = h.region AND k.purpose = h.purpose
  AND k.key_arn = $2 AND h.next_probe_at > $3 AND h.status <> 'unavailable'`, orgID, keyARN, now)
	return translate(err)
}

// StateCounts counts linked keys by health status and collections by state, in one round trip, for
// the gauges an operator watches.
func (q *Q) StateCounts(ctx context.Context) (keys, collections map[string]int, err error) {
	rows, err := q.db.Query(ctx, `
SELECT 'key', status, count(*) FROM key_health GROUP BY status
UNION ALL
SELECT 'collection', state, count(*) FROM collections GROUP BY state`)
	if err != nil {
		return nil, nil, translate(err)
	}
	keys, collections = map[string]int{}, map[string]int{}
	type count struct {
		kind, value string
		n           int
	}
	counts, err := collect(rows, func(r pgx.Row) (count, error) {
		var c count
		return c, r.Scan(&c.kind, &c.value, &c.n)
	})
	for _, c := range counts {
		if c.kind == "key" {
			keys[c.value] = c.n
		} else {
			collections[c.value] = c.n
		}
	}
	return keys, collections, err
}

// ProbeNoChange is a probe result that changes no state, written with others in one statement by
// SaveNoChanges: a healthy key found healthy (Healthy), or a transient failure repeating the key's
// last error (Error set, the same code as the one on record).
type ProbeNoChange struct {
	OrgID, Region, Purpose string
	// Row is the row version the claim left (Due.Row); zero: the row is looked up by its key.
	Row         RowVersion
	Healthy     bool
	Error       *domain.ProbeError
	NextProbeAt time.Time
}

// SaveNoChanges writes, in one statement, probe results that owner made under its leases at now and
// that change no state, and releases those leases. A result is written only where it still changes
// nothing and the lease still holds, all checked on the locked row: for Healthy, the key is not on
// record as unavailable and, for a data key, no collection of its region is halted (Decide would
// reactivate it); for a transient error, the error on record has the same code (Decide would record
// a new one with an event). It returns the keys it wrote; the caller applies the others one by one,
// in a transaction each, as before.
//
// Each row is updated by its version, the one its claim left (a TID scan), or else the one found by
// its primary key; a row changed since its claim is not found by the claim's version and is applied
// as a change. Joined with the results by key instead, the planner, expecting the lease condition to
// leave one row, hashed the whole table on every save.
//
// Collections are halted only under a lock on their key's health row (a probe's transaction, or a
// collection created while its key is unavailable), so a key this statement finds not unavailable
// cannot gain a halted collection behind its back.
func (q *Q) SaveNoChanges(ctx context.Context, owner string, now time.Time, rs []ProbeNoChange) ([]Due, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	n := len(rs)
	orgs, regions, purposes := make([]string, n), make([]string, n), make([]string, n)
	healthy, next := make([]bool, n), make([]time.Time, n)
	codes, actions, msgs := make([]string, n), make([]string, n), make([]string, n)
	tids := make([]pgtype.TID, n)
	for i, r := range rs {
		orgs[i], regions[i], purposes[i], healthy[i], next[i], tids[i] = r.OrgID, r.Region, r.Purpose, r.Healthy, r.NextProbeAt, r.Row.tid
		if r.Error != nil {
			codes[i], actions[i], msgs[i] = r.Error.Code, r.Error.Action, r.Error.Message
		}
	}
	rows, err := q.db.Query(ctx, `
UPDATE key_health h SET
    status = CASE WHEN u.healthy THEN $3 ELSE h.status END,
    last_probe_at = $2,
    last_ok_at = CASE WHEN u.healthy THEN $2 ELSE h.last_ok_at END,
    unavailable_since = CASE WHEN u.healthy THEN NULL ELSE h.unavailable_since END,
    last_error_code = u.code, last_error_action = u.action, last_error_message = u.message,
    next_probe_at = u.next, lease_owner = '', lease_until = NULL,
    `+achievedInterval+`
FROM unnest($7::text[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[], $13::text[], $14::timestamptz[], $15::tid[])
    AS u (org_id, region, purpose, healthy, code, action, message, next, row)
WHERE h.ctid = coalesce(u.row, (SELECT x.ctid FROM key_health x WHERE x.org_id = u.org_id AND x.region = u.region AND x.purpose = u.purpose))
  AND h.org_id = u.org_id AND h.region = u.region AND h.purpose = u.purpose
  AND h.lease_owner = $1 AND h.lease_until > $2
  AND CASE WHEN u.healthy THEN h.status <> $4 AND (h.purpose <> $5 OR NOT EXISTS (
          SELECT FROM collections c WHERE c.org_id = h.org_id AND c.region = h.region AND c.state = $6))
      ELSE h.last_error_code <> '' AND h.last_error_code = u.code END
RETURNING h.org_id, h.region, h.purpose`,
		owner, now, domain.KeyHealthy, domain.KeyUnavailable, domain.PurposeData, domain.StateIngestHalted,
		orgs, regions, purposes, healthy, codes, actions, msgs, next, tids)
	if err != nil {
		return nil, translate(err)
	}
	return collect(rows, func(r pgx.Row) (Due, error) {
		var d Due
		return d, r.Scan(&d.OrgID, &d.Region, &d.Purpose)
	})
}
