package awsemu

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"regexp"
	"slices"
	"strings"
	"time"
)

// region holds one region's keys and aliases of the emulator's account.
type region struct {
	name    string
	keys    map[string]*key   // by key id
	aliases map[string]*alias // by alias name
	deleted map[string]bool   // ids of keys whose deletion completed
	pending int               // keys pending deletion or Creating, so that settling is free when there are none
}

// key is one KMS key in one region; a multi-region replica is a key of its own
// that shares its material with the primary.
type key struct {
	id, arn     string
	region      string
	seq         uint64
	created     time.Time
	description string
	spec, usage string
	manager     string
	state       string
	deletion    time.Time // when a PendingDeletion key goes away
	window      int32     // the waiting period in days of a PendingReplicaDeletion primary
	ready       time.Time // when a Creating replica becomes Enabled
	policy      string    // the document as the caller wrote it
	doc         *policyDoc
	shared      *material
	grants      []*grant
	tags        map[string]string
}

// material is what all keys of one multi-region set share: the secret, the
// set's members and the rotation setting.
type material struct {
	secret         []byte      // nil unless the key is SYMMETRIC_DEFAULT; kept so that -state can save it
	aead           cipher.AEAD // made from secret
	multiRegion    bool
	primary        string   // region of the primary key (multi-region only)
	replicas       []string // regions of the replicas, in creation order
	rotation       bool
	rotationPeriod int32
	rotationSince  time.Time
}

// alias names a key in its region.
type alias struct {
	name             string
	keyID            string
	created, updated time.Time
}

func newMaterial(spec string, multiRegion bool, home string) *material {
	m := &material{multiRegion: multiRegion}
	if multiRegion {
		m.primary = home
	}
	if spec == specSymmetric {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		m.setSecret(secret)
	}
	return m
}

// setSecret installs a 32-byte AES key.
func (m *material) setSecret(secret []byte) {
	block, _ := aes.NewCipher(secret) // a 32-byte key cannot be refused
	m.secret = secret
	m.aead, _ = cipher.NewGCM(block)
}

const (
	managedAlias       = "alias/aws/cmekd-test"
	managedDescription = "Default key that protects my cmekd test data when no other key is defined"
)

// regionLocked returns the named region, creating it with its AWS-managed key
// on first use, after settling every region's timed state changes. e.mu must be held.
func (e *Emulator) regionLocked(name string, now time.Time) *region {
	e.settleLocked(now)
	if r, ok := e.regions[name]; ok {
		return r
	}
	r := newRegion(name)
	e.regions[name] = r
	e.regionAdded = true
	k := e.addKeyLocked(r, newUUID(), specSymmetric, usageEncrypt, managerAWS, managedDescription, now,
		newMaterial(specSymmetric, false, name))
	k.doc, k.policy = managedPolicy(partition(name), e.account)
	// AWS rotates its managed keys every year.
	k.shared.rotation, k.shared.rotationPeriod, k.shared.rotationSince = true, 365, now
	r.aliases[managedAlias] = &alias{name: managedAlias, keyID: k.id, created: now, updated: now}
	return r
}

func newRegion(name string) *region {
	return &region{name: name, keys: map[string]*key{}, aliases: map[string]*alias{}, deleted: map[string]bool{}}
}

// addKeyLocked creates an Enabled key with the default key policy.
func (e *Emulator) addKeyLocked(r *region, id, spec, usage, manager, description string, now time.Time, m *material) *key {
	e.seq++
	k := &key{
		id: id, arn: keyARN(r.name, e.account, id), region: r.name, seq: e.seq, created: now,
		description: description, spec: spec, usage: usage, manager: manager, state: stateEnabled, shared: m,
		tags: map[string]string{},
	}
	k.doc, k.policy = defaultPolicy(partition(r.name), e.account)
	r.keys[id] = k
	return k
}

// settleLocked applies the state changes that time makes: Creating replicas
// become Enabled, and keys whose waiting period is over are deleted. A primary
// multi-region key waits in PendingReplicaDeletion for its replicas; its own
// waiting period starts when the last of them is deleted, as in AWS. It loops
// because one deletion can start (and, with a clock far ahead, end) another
// region's waiting period.
func (e *Emulator) settleLocked(now time.Time) {
	for changed := true; changed; {
		changed = false
		for _, r := range e.regions {
			if r.pending > 0 && e.settleRegionLocked(r, now) {
				changed = true
			}
		}
	}
}

func (e *Emulator) settleRegionLocked(r *region, now time.Time) (changed bool) {
	for _, k := range r.keys {
		switch {
		case k.state == stateCreating && !now.Before(k.ready):
			k.state, k.ready = stateEnabled, time.Time{}
			r.pending--
			changed = true
		case k.state == statePendingDeletion && !now.Before(k.deletion):
			e.deleteKeyLocked(r, k)
			changed = true
		}
	}
	return changed
}

// deleteKeyLocked completes the deletion of k.
func (e *Emulator) deleteKeyLocked(r *region, k *key) {
	e.emitDeletionLocked(r.name, k.arn, k.id, k.deletion)
	delete(r.keys, k.id)
	r.deleted[k.id] = true
	r.pending--
	for name, a := range r.aliases {
		if a.keyID == k.id {
			delete(r.aliases, name)
		}
	}
	for _, g := range k.grants {
		delete(e.grants, g.id)
	}
	m := k.shared
	if !m.multiRegion || m.primary == r.name {
		return
	}
	m.replicas = slices.DeleteFunc(m.replicas, func(s string) bool { return s == r.name })
	if len(m.replicas) > 0 {
		return
	}
	if home := e.regions[m.primary]; home != nil {
		if p := home.keys[k.id]; p != nil && p.state == statePendingReplica {
			p.state, p.deletion, p.window = statePendingDeletion, k.deletion.Add(inDays(p.window)), 0
		}
	}
}

// inDays is a waiting period as a duration.
func inDays(n int32) time.Duration { return time.Duration(n) * 24 * time.Hour }

func keyARN(region, account, id string) string {
	return "arn:" + partition(region) + ":kms:" + region + ":" + account + ":key/" + id
}

func aliasARN(region, account, name string) string {
	return "arn:" + partition(region) + ":kms:" + region + ":" + account + ":" + name
}

var (
	keyIDPattern     = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	aliasNamePattern = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)
)

// resolveMode says which forms of KeyId an operation accepts.
type resolveMode bool

const (
	keyOnly    resolveMode = false // key id or key ARN: key administration
	aliasesToo resolveMode = true  // also alias name and alias ARN: DescribeKey and cryptography
)

// resolveLocked finds the key a KeyId names in the call's region. e.mu must be held.
func (c *call) resolveLocked(r *region, keyID string, mode resolveMode) (*key, error) {
	invalid := newError(errNotFound, "Invalid keyId %s", keyID)
	// A principal of another account names its own account's keys with a bare
	// id or alias name; only ARNs reach across accounts.
	account := c.e.account
	if c.principal.account != "" && c.principal.account != account {
		account = c.principal.account
	}
	name := keyID
	if strings.HasPrefix(keyID, "arn:") {
		parts := strings.SplitN(keyID, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" || parts[1] != partition(parts[3]) {
			return nil, invalid
		}
		if parts[3] != r.name {
			return nil, newError(errNotFound, "Invalid arn %s", parts[3])
		}
		account, name = parts[4], parts[5]
		if !strings.HasPrefix(name, "key/") && !strings.HasPrefix(name, "alias/") {
			return nil, invalid
		}
		name = strings.TrimPrefix(name, "key/")
	}
	if strings.HasPrefix(name, "alias/") {
		if mode == keyOnly {
			return nil, invalid
		}
		a, ok := r.aliases[name]
		if !ok || account != c.e.account {
			return nil, newError(errNotFound, "Alias %s is not found.", aliasARN(r.name, account, name))
		}
		c.key = r.keys[a.keyID].arn
		return r.keys[a.keyID], nil
	}
	if !keyIDPattern.MatchString(name) {
		return nil, invalid
	}
	k, ok := r.keys[name]
	if !ok || account != c.e.account {
		return nil, errKeyMissing(keyARN(r.name, account, name))
	}
	c.key = k.arn
	return k, nil
}

// checkUsable is the key-state check of every cryptographic operation.
func checkUsable(k *key) error {
	switch k.state {
	case stateEnabled:
		return nil
	case stateDisabled:
		return errKeyDisabled(k.arn)
	}
	return errKeyState(k)
}

// pendingDeletion tells whether k is on its way out.
func pendingDeletion(k *key) bool {
	return k.state == statePendingDeletion || k.state == statePendingReplica
}

// checkSymmetric refuses symmetric cryptography with any other kind of key.
func checkSymmetric(k *key, op string) error {
	if k.spec != specSymmetric {
		return newError(errInvalidKeyUsage, "%s key usage is %s and key spec is %s, which is not valid for %s.", k.arn, k.usage, k.spec, op)
	}
	return nil
}

// keyMetadata is KMS's KeyMetadata structure.
type keyMetadata struct {
	AWSAccountId             string             `json:"AWSAccountId"`
	KeyId                    string             `json:"KeyId"`
	Arn                      string             `json:"Arn"`
	CreationDate             epoch              `json:"CreationDate"`
	Enabled                  bool               `json:"Enabled"`
	Description              string             `json:"Description"`
	KeyUsage                 string             `json:"KeyUsage"`
	KeyState                 string             `json:"KeyState"`
	DeletionDate             *epoch             `json:"DeletionDate,omitempty"`
	PendingDeletionWindow    int32              `json:"PendingDeletionWindowInDays,omitempty"`
	Origin                   string             `json:"Origin"`
	KeyManager               string             `json:"KeyManager"`
	CustomerMasterKeySpec    string             `json:"CustomerMasterKeySpec,omitempty"`
	KeySpec                  string             `json:"KeySpec"`
	EncryptionAlgorithms     []string           `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms        []string           `json:"SigningAlgorithms,omitempty"`
	MacAlgorithms            []string           `json:"MacAlgorithms,omitempty"`
	KeyAgreementAlgorithms   []string           `json:"KeyAgreementAlgorithms,omitempty"`
	EncapsulationAlgorithms  []string           `json:"EncapsulationAlgorithms,omitempty"`
	MultiRegion              bool               `json:"MultiRegion"`
	MultiRegionConfiguration *multiRegionConfig `json:"MultiRegionConfiguration,omitempty"`
}

type multiRegionConfig struct {
	MultiRegionKeyType string           `json:"MultiRegionKeyType"`
	PrimaryKey         multiRegionKey   `json:"PrimaryKey"`
	ReplicaKeys        []multiRegionKey `json:"ReplicaKeys"`
}

type multiRegionKey struct {
	Arn    string `json:"Arn"`
	Region string `json:"Region"`
}

func (e *Emulator) metadata(k *key) *keyMetadata {
	algs := keySpecs[k.spec][k.usage]
	md := &keyMetadata{
		AWSAccountId: e.account, KeyId: k.id, Arn: k.arn, CreationDate: epoch(k.created),
		Enabled: k.state == stateEnabled, Description: k.description, KeyUsage: k.usage, KeyState: k.state,
		DeletionDate: epochPtr(k.deletion), Origin: "AWS_KMS", KeyManager: k.manager, KeySpec: k.spec,
		EncryptionAlgorithms: algs.encryption, SigningAlgorithms: algs.signing, MacAlgorithms: algs.mac,
		KeyAgreementAlgorithms: algs.agreement, EncapsulationAlgorithms: algs.encapsulation,
		MultiRegion: k.shared.multiRegion, PendingDeletionWindow: k.window,
	}
	if isLegacySpec(k.spec) {
		md.CustomerMasterKeySpec = k.spec
	}
	if m := k.shared; m.multiRegion {
		typ := "REPLICA"
		if m.primary == k.region {
			typ = "PRIMARY"
		}
		cfg := &multiRegionConfig{
			MultiRegionKeyType: typ,
			PrimaryKey:         multiRegionKey{Arn: keyARN(m.primary, e.account, k.id), Region: m.primary},
			ReplicaKeys:        []multiRegionKey{},
		}
		for _, reg := range m.replicas {
			cfg.ReplicaKeys = append(cfg.ReplicaKeys, multiRegionKey{Arn: keyARN(reg, e.account, k.id), Region: reg})
		}
		md.MultiRegionConfiguration = cfg
	}
	return md
}
