package gcp

import (
	"encoding/json"
	"fmt"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// stateVersion is the format of MarshalState's output; another version is refused rather than
// misread.
const stateVersion = 1

// state is everything the emulator knows, in the form MarshalState writes.
type state struct {
	Version     int                   `json:"version"`
	TokenSecret []byte                `json:"token_secret"`
	Identities  map[string]*identity  `json:"identities"` // by email
	Rings       map[string]*keyRing   `json:"key_rings"`  // by resource name
	Keys        map[string]*cryptoKey `json:"crypto_keys"`
	Policies    map[string]*policy    `json:"policies"` // by project, key ring or CryptoKey name
}

type keyRing struct {
	Created time.Time `json:"created"`
}

type cryptoKey struct {
	Created         time.Time                                        `json:"created"`
	Purpose         kmspb.CryptoKey_CryptoKeyPurpose                 `json:"purpose"`
	Algorithm       kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm `json:"algorithm"`
	Protection      kmspb.ProtectionLevel                            `json:"protection_level"`
	Labels          map[string]string                                `json:"labels,omitempty"`
	Primary         int64                                            `json:"primary,omitempty"` // 0: none
	Versions        []*keyVersion                                    `json:"versions"`          // Versions[i] is version i+1
	DestroyDuration time.Duration                                    `json:"destroy_scheduled_duration"`
	RotationPeriod  time.Duration                                    `json:"rotation_period,omitempty"`
	NextRotation    time.Time                                        `json:"next_rotation,omitzero"`
}

type keyVersion struct {
	State       kmspb.CryptoKeyVersion_CryptoKeyVersionState `json:"state"`
	Created     time.Time                                    `json:"created"`
	DestroyTime time.Time                                    `json:"destroy_time,omitzero"`
	DestroyedAt time.Time                                    `json:"destroyed_at,omitzero"`
	Material    []byte                                       `json:"material,omitempty"` // AES-256 key; none once destroyed or for keys never used here
}

// policy is an IAM policy: members by role.
type policy struct {
	Etag     []byte              `json:"etag"`
	Bindings map[string][]string `json:"bindings"`
}

func newState() *state {
	return &state{
		Version:    stateVersion,
		Identities: map[string]*identity{},
		Rings:      map[string]*keyRing{},
		Keys:       map[string]*cryptoKey{},
		Policies:   map[string]*policy{},
	}
}

// MarshalState is the emulator's state (identities with their private keys, key rings, keys with
// their key material, IAM policies) for the binary to keep beside the other clouds'.
func (e *Emulator) MarshalState() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return json.Marshal(e.st)
}

// UnmarshalState replaces the emulator's state with one MarshalState wrote, and writes the key
// files of its identities again.
func (e *Emulator) UnmarshalState(data []byte) error {
	st := newState()
	if err := json.Unmarshal(data, st); err != nil {
		return fmt.Errorf("gcp: state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("gcp: state version %d, want %d", st.Version, stateVersion)
	}
	if st.Identities == nil || st.Rings == nil || st.Keys == nil || st.Policies == nil {
		return fmt.Errorf("gcp: state lacks a collection")
	}
	if len(st.TokenSecret) < 32 {
		return fmt.Errorf("gcp: state has no token secret")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st = st
	return e.writeKeyFiles()
}
