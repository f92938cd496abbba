package gcp

import (
	"cloud.google.com/go/kms/apiv1/kmspb"
)

// CreateKey makes the symmetric CryptoKey keyName (projects/P/locations/L/keyRings/R/cryptoKeys/K)
// with one enabled primary version, and its key ring if need be, without IAM: for dev mode and
// tests, whose callers reach it through a project grant. A key that exists is left as it is.
func (e *Emulator) CreateKey(keyName string) error {
	n, err := parseName(keyName, kindCryptoKey)
	if err != nil {
		return err
	}
	e.mu.Lock()
	now := e.opts.Now()
	if rn := n.at(kindKeyRing).String(); e.st.Rings[rn] == nil {
		e.st.Rings[rn] = &keyRing{Created: now}
		e.dirty = true
	}
	if e.st.Keys[n.String()] == nil {
		k, _ := newCryptoKey(&kmspb.CryptoKey{Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT}, now)
		k.Primary = k.addVersion(now)
		e.st.Keys[n.String()] = k
		e.dirty = true
	}
	e.mu.Unlock()
	e.changed()
	return nil
}
