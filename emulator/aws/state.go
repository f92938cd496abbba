package awsemu

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// stateVersion is the format of the state file; a file of another version is refused rather than
// misread.
const stateVersion = 1

// savedState is what -state keeps: everything but the clock and the principals, which come from
// the options of each start.
type savedState struct {
	Version     int             `json:"version"`
	Account     string          `json:"account"`
	Seq         uint64          `json:"seq"`
	TokenSecret []byte          `json:"token_secret"`
	Materials   []savedMaterial `json:"materials"`
	Regions     []savedRegion   `json:"regions"`
	// Events are EventBridge's rules, targets, connections and API destinations; Roles IAM's roles.
	Events *eventsState        `json:"events,omitempty"`
	Roles  map[string]*iamRole `json:"roles,omitempty"`
	// Clouds are the companions' states (Options.Companions), by name.
	Clouds map[string]json.RawMessage `json:"clouds,omitempty"`
}

// Companion is another cloud's emulator whose state is kept in the same state file, so that one
// -state file keeps every cloud the emulator serves.
type Companion interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// Save writes the state file now: a companion's state changed. Without a state file it does
// nothing.
func (e *Emulator) Save() error {
	if e.stateFile == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return writeAtomically(e.stateFile, e.snapshotLocked())
}

// savedMaterial is one key's secret, or a multi-region set's, shared by its keys.
type savedMaterial struct {
	Secret         []byte    `json:"secret,omitempty"`
	MultiRegion    bool      `json:"multi_region,omitempty"`
	Primary        string    `json:"primary,omitempty"`
	Replicas       []string  `json:"replicas,omitempty"`
	Rotation       bool      `json:"rotation,omitempty"`
	RotationPeriod int32     `json:"rotation_period,omitempty"`
	RotationSince  time.Time `json:"rotation_since"`
}

type savedRegion struct {
	Name    string       `json:"name"`
	Keys    []savedKey   `json:"keys"`
	Aliases []savedAlias `json:"aliases"`
	Deleted []string     `json:"deleted,omitempty"`
}

type savedKey struct {
	ID          string            `json:"id"`
	Seq         uint64            `json:"seq"`
	Created     time.Time         `json:"created"`
	Description string            `json:"description"`
	Spec        string            `json:"spec"`
	Usage       string            `json:"usage"`
	Manager     string            `json:"manager"`
	State       string            `json:"state"`
	Deletion    time.Time         `json:"deletion"`
	Window      int32             `json:"window,omitempty"`
	Ready       time.Time         `json:"ready"`
	Policy      string            `json:"policy"`
	Material    int               `json:"material"` // index in savedState.Materials
	Tags        map[string]string `json:"tags,omitempty"`
	Grants      []savedGrant      `json:"grants,omitempty"`
}

type savedGrant struct {
	ID         string            `json:"id"`
	Seq        uint64            `json:"seq"`
	Name       string            `json:"name,omitempty"`
	Grantee    string            `json:"grantee"`
	Retiring   string            `json:"retiring,omitempty"`
	Operations []string          `json:"operations"`
	Subset     map[string]string `json:"subset,omitempty"`
	Equals     map[string]string `json:"equals,omitempty"`
	Created    time.Time         `json:"created"`
}

type savedAlias struct {
	Name    string    `json:"name"`
	KeyID   string    `json:"key_id"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// saveAfter keeps the state after a successful op, unless op changes nothing that is kept.
func (e *Emulator) saveAfter(op string) error {
	if e.stateFile == "" {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if (slices.Contains(readOnly, op) || slices.Contains(eventsReadOnly, op) || strings.HasPrefix(op, "iam:Get") || strings.HasPrefix(op, "iam:List")) && !e.regionAdded {
		return nil
	}
	e.regionAdded = false
	// Written under the lock, so that a later state is never overwritten by an earlier one.
	return writeAtomically(e.stateFile, e.snapshotLocked())
}

// snapshotLocked encodes the state. e.mu must be held.
func (e *Emulator) snapshotLocked() []byte {
	st := savedState{Version: stateVersion, Account: e.account, Seq: e.seq, TokenSecret: e.tokenSecret, Events: e.events, Roles: e.roles}
	index := map[*material]int{}
	for _, name := range slices.Sorted(maps.Keys(e.regions)) {
		r := e.regions[name]
		sr := savedRegion{Name: name}
		for _, k := range r.keys {
			m := k.shared
			i, ok := index[m]
			if !ok {
				i = len(st.Materials)
				index[m] = i
				st.Materials = append(st.Materials, savedMaterial{
					Secret: m.secret, MultiRegion: m.multiRegion, Primary: m.primary, Replicas: m.replicas,
					Rotation: m.rotation, RotationPeriod: m.rotationPeriod, RotationSince: m.rotationSince,
				})
			}
			sk := savedKey{
				ID: k.id, Seq: k.seq, Created: k.created, Description: k.description, Spec: k.spec, Usage: k.usage,
				Manager: k.manager, State: k.state, Deletion: k.deletion, Window: k.window, Ready: k.ready,
				Policy: k.policy, Material: i, Tags: k.tags,
			}
			for _, g := range k.grants {
				sk.Grants = append(sk.Grants, savedGrant{
					ID: g.id, Seq: g.seq, Name: g.name, Grantee: g.grantee, Retiring: g.retiring,
					Operations: g.operations, Subset: g.subset, Equals: g.equals, Created: g.created,
				})
			}
			sr.Keys = append(sr.Keys, sk)
		}
		slices.SortFunc(sr.Keys, func(a, b savedKey) int { return cmp.Compare(a.Seq, b.Seq) })
		for _, a := range r.aliases {
			sr.Aliases = append(sr.Aliases, savedAlias{Name: a.name, KeyID: a.keyID, Created: a.created, Updated: a.updated})
		}
		slices.SortFunc(sr.Aliases, func(a, b savedAlias) int { return strings.Compare(a.Name, b.Name) })
		sr.Deleted = slices.Sorted(maps.Keys(r.deleted))
		st.Regions = append(st.Regions, sr)
	}
	for name, c := range e.companions {
		if b, err := c.MarshalState(); err == nil {
			if st.Clouds == nil {
				st.Clouds = map[string]json.RawMessage{}
			}
			st.Clouds[name] = b
		} else {
			e.log.Error("kms emulator could not save a companion's state", "cloud", name, "err", err)
		}
	}
	b, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		panic("emulator: state does not encode: " + err.Error()) // maps of strings and times always do
	}
	return b
}

// writeAtomically replaces path with data: a reader (or a restart after a crash) sees the old
// file or the new one, never a part. The file holds key material, so only its owner may read it.
func writeAtomically(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// load reads the state file; a missing one is an empty state.
func (e *Emulator) load() error {
	b, err := os.ReadFile(e.stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("kms emulator state: %w", err)
	}
	if err := e.restore(b); err != nil {
		return fmt.Errorf("kms emulator state %s: %w", e.stateFile, err)
	}
	return nil
}

// restore installs the state b encodes.
func (e *Emulator) restore(b []byte) error {
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	switch {
	case st.Version != stateVersion:
		return fmt.Errorf("version %d, want %d", st.Version, stateVersion)
	case st.Account != e.account:
		return fmt.Errorf("keys of account %s, not %s", st.Account, e.account)
	case len(st.TokenSecret) != 32:
		return errors.New("no grant token secret")
	}
	materials := make([]*material, len(st.Materials))
	for i, sm := range st.Materials {
		m := &material{multiRegion: sm.MultiRegion, primary: sm.Primary, replicas: sm.Replicas,
			rotation: sm.Rotation, rotationPeriod: sm.RotationPeriod, rotationSince: sm.RotationSince}
		if sm.Secret != nil {
			if len(sm.Secret) != 32 {
				return fmt.Errorf("a key secret of %d bytes", len(sm.Secret))
			}
			m.setSecret(sm.Secret)
		}
		materials[i] = m
	}
	for name, b := range st.Clouds {
		if c, ok := e.companions[name]; ok {
			if err := c.UnmarshalState(b); err != nil {
				return fmt.Errorf("%s state: %w", name, err)
			}
		}
	}
	e.seq, e.tokenSecret, e.events, e.roles = st.Seq, st.TokenSecret, st.Events, st.Roles
	for _, sr := range st.Regions {
		r, err := e.restoreRegion(sr, materials)
		if err != nil {
			return err
		}
		e.regions[sr.Name] = r
	}
	return nil
}

// restoreRegion rebuilds one region, its keys' grants added to e.grants.
func (e *Emulator) restoreRegion(sr savedRegion, materials []*material) (*region, error) {
	r := newRegion(sr.Name)
	for _, sk := range sr.Keys {
		if sk.Material < 0 || sk.Material >= len(materials) {
			return nil, fmt.Errorf("key %s has no material", sk.ID)
		}
		doc, err := parsePolicy(sk.Policy)
		if err != nil {
			return nil, fmt.Errorf("key %s: %v", sk.ID, err)
		}
		k := &key{
			id: sk.ID, arn: keyARN(sr.Name, e.account, sk.ID), region: sr.Name, seq: sk.Seq, created: sk.Created,
			description: sk.Description, spec: sk.Spec, usage: sk.Usage, manager: sk.Manager, state: sk.State,
			deletion: sk.Deletion, window: sk.Window, ready: sk.Ready, policy: sk.Policy, doc: doc,
			shared: materials[sk.Material], tags: sk.Tags,
		}
		if k.tags == nil {
			k.tags = map[string]string{}
		}
		for _, sg := range sk.Grants {
			g := &grant{id: sg.ID, key: k, seq: sg.Seq, name: sg.Name, grantee: sg.Grantee, retiring: sg.Retiring,
				operations: sg.Operations, subset: sg.Subset, equals: sg.Equals, created: sg.Created}
			k.grants = append(k.grants, g)
			e.grants[g.id] = g
		}
		if k.state == stateCreating || pendingDeletion(k) {
			r.pending++
		}
		r.keys[k.id] = k
	}
	for _, sa := range sr.Aliases {
		if r.keys[sa.KeyID] == nil {
			return nil, fmt.Errorf("alias %s names no key", sa.Name)
		}
		r.aliases[sa.Name] = &alias{name: sa.Name, keyID: sa.KeyID, created: sa.Created, updated: sa.Updated}
	}
	for _, id := range sr.Deleted {
		r.deleted[id] = true
	}
	return r, nil
}
