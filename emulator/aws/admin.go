package awsemu

import "time"

// keyMetadataOutput is the answer of CreateKey and DescribeKey.
type keyMetadataOutput struct {
	KeyMetadata *keyMetadata `json:"KeyMetadata"`
}

// newKeyInput are the members CreateKey and ReplicateKey share: what the new
// key is given besides its material.
type newKeyInput struct {
	Policy                         string
	BypassPolicyLockoutSafetyCheck bool
	Description                    string
	Tags                           []tag
}

// check checks the members' shape.
func (in *newKeyInput) check(v *validator) {
	v.tags(in.Tags)
	v.strLen("policy", in.Policy, 1, maxPolicyLength)
	v.strLen("description", in.Description, 0, 8192)
}

// parsePolicy parses the policy, if there is one.
func (in *newKeyInput) parsePolicy() (*policyDoc, error) {
	if in.Policy == "" {
		return nil, nil
	}
	return parsePolicy(in.Policy)
}

// newKeyLocked makes the key a CreateKey or ReplicateKey asks for in r, with
// the request's policy (doc, already parsed; nil for the default one),
// description and tags. A policy of the request must pass the lockout check.
func (c *call) newKeyLocked(r *region, id, spec, usage string, m *material, in *newKeyInput, doc *policyDoc) (*key, error) {
	if doc != nil {
		if err := c.checkLockout(doc, keyARN(r.name, c.e.account, id), in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	k := c.e.addKeyLocked(r, id, spec, usage, managerCustomer, in.Description, c.now, m)
	if doc != nil {
		k.doc, k.policy = doc, in.Policy
	}
	setTags(k, in.Tags)
	return k, nil
}

type createKeyInput struct {
	newKeyInput
	KeyUsage              string
	CustomerMasterKeySpec string
	KeySpec               string
	Origin                string
	CustomKeyStoreId      string
	XksKeyId              string
	MultiRegion           bool
}

// specAndUsage checks what kind of key a CreateKey asks for and returns its
// spec and usage, defaults filled in.
func (in *createKeyInput) specAndUsage() (spec, usage string, err error) {
	if in.KeySpec != "" && in.CustomerMasterKeySpec != "" {
		return "", "", newError(errValidation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	if (in.Origin != "" && in.Origin != "AWS_KMS") || in.CustomKeyStoreId != "" || in.XksKeyId != "" {
		return "", "", newError(errUnsupportedOp, "This KMS emulator creates only keys with origin AWS_KMS outside custom key stores.")
	}
	spec = cmpOr(in.KeySpec, in.CustomerMasterKeySpec, specSymmetric)
	usage = cmpOr(in.KeyUsage, usageEncrypt)
	if _, ok := keySpecs[spec][usage]; !ok {
		return "", "", newError(errValidation, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	return spec, usage, nil
}

func (c *call) createKey(body []byte) (any, error) {
	var in createKeyInput
	if err := decodeValid(body, &in, func(v *validator) {
		in.check(v)
		v.enum("keyUsage", in.KeyUsage, keyUsageNames)
		v.enum("customerMasterKeySpec", in.CustomerMasterKeySpec, legacySpecNames)
		v.enum("keySpec", in.KeySpec, keySpecNames)
		v.enum("origin", in.Origin, originNames)
	}); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	spec, usage, err := in.specAndUsage()
	if err != nil {
		return nil, err
	}
	doc, err := in.parsePolicy()
	if err != nil {
		return nil, err
	}
	id := newUUID()
	if in.MultiRegion {
		id = "mrk-" + randomHex(16)
	}
	return c.inRegion(func(r *region) (any, error) {
		k, err := c.newKeyLocked(r, id, spec, usage, newMaterial(spec, in.MultiRegion, r.name), &in.newKeyInput, doc)
		if err != nil {
			return nil, err
		}
		c.key = k.arn
		return keyMetadataOutput{c.e.metadata(k)}, nil
	})
}

// cmpOr returns the first non-empty string.
func cmpOr(vals ...string) string {
	for _, s := range vals {
		if s != "" {
			return s
		}
	}
	return ""
}

func (c *call) describeKey(body []byte) (any, error) {
	return c.keyOp(body, access{mode: aliasesToo, action: "DescribeKey"}, func(_ *region, k *key) (any, error) {
		return keyMetadataOutput{c.e.metadata(k)}, nil
	})
}

func (c *call) enableKey(body []byte) (any, error) {
	return c.keyOp(body, access{action: "EnableKey"}, func(_ *region, k *key) (any, error) {
		return nil, setState(k, stateEnabled)
	})
}

func (c *call) disableKey(body []byte) (any, error) {
	return c.keyOp(body, access{action: "DisableKey"}, func(_ *region, k *key) (any, error) {
		return nil, setState(k, stateDisabled)
	})
}

func setState(k *key, state string) error {
	if err := checkSettled(k); err != nil {
		return err
	}
	k.state = state
	return nil
}

// checkSettled refuses changes to a key that is neither Enabled nor Disabled:
// one on its way out, or one still being made.
func checkSettled(k *key) error {
	if k.state != stateEnabled && k.state != stateDisabled {
		return errKeyState(k)
	}
	return nil
}

// daysInput is the input of the operations that take a key and a number of
// days: ScheduleKeyDeletion's waiting period, EnableKeyRotation's period.
type daysInput struct {
	KeyId                string
	PendingWindowInDays  *int32
	RotationPeriodInDays *int32
}

// daysMember describes the member of a daysInput an operation reads.
type daysMember struct {
	member      string // as validation messages name it
	lo, hi, def int32
	of          func(*daysInput) *int32
}

var (
	pendingWindow  = daysMember{"pendingWindowInDays", 7, 30, 30, func(in *daysInput) *int32 { return in.PendingWindowInDays }}
	rotationPeriod = daysMember{"rotationPeriodInDays", 90, 2560, 365, func(in *daysInput) *int32 { return in.RotationPeriodInDays }}
)

// withDays decodes a daysInput and runs fn on its key with the days member
// d describes, or its default.
func (c *call) withDays(body []byte, d daysMember, action string, fn func(r *region, k *key, days int32) (any, error)) (any, error) {
	var in daysInput
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.intRange(d.member, d.of(&in), d.lo, d.hi)
	}); err != nil {
		return nil, err
	}
	n := d.def
	if p := d.of(&in); p != nil {
		n = *p
	}
	return c.withKey(in.KeyId, access{action: action}, func(r *region, k *key) (any, error) { return fn(r, k, n) })
}

func (c *call) scheduleKeyDeletion(body []byte) (any, error) {
	return c.withDays(body, pendingWindow, "ScheduleKeyDeletion", func(r *region, k *key, days int32) (any, error) {
		if err := checkSettled(k); err != nil {
			return nil, err
		}
		r.pending++
		// A primary multi-region key outlives its replicas: its waiting period starts when the
		// last of them is deleted, so until then it has no deletion date.
		if m := k.shared; m.multiRegion && m.primary == r.name && len(m.replicas) > 0 {
			k.state, k.window = statePendingReplica, days
		} else {
			k.state, k.deletion = statePendingDeletion, c.now.Add(inDays(days))
		}
		return struct {
			KeyId               string
			DeletionDate        *epoch `json:",omitempty"`
			KeyState            string
			PendingWindowInDays int32
		}{k.arn, epochPtr(k.deletion), k.state, days}, nil
	})
}

func (c *call) cancelKeyDeletion(body []byte) (any, error) {
	return c.keyOp(body, access{action: "CancelKeyDeletion"}, func(r *region, k *key) (any, error) {
		if !pendingDeletion(k) {
			return nil, newError(errInvalidState, "%s is not pending deletion.", k.arn)
		}
		// As in AWS, a key whose deletion is cancelled comes back disabled.
		k.state, k.deletion, k.window = stateDisabled, time.Time{}, 0
		r.pending--
		return map[string]string{"KeyId": k.arn}, nil
	})
}

func (c *call) replicateKey(body []byte) (any, error) {
	var in struct {
		newKeyInput
		KeyId         string
		ReplicaRegion string
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("replicaRegion", in.ReplicaRegion != "")
		v.strLen("replicaRegion", in.ReplicaRegion, 1, 32)
		in.check(v)
	}); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if !regionPattern.MatchString(in.ReplicaRegion) {
		return nil, newError(errValidation, "1 validation error detected: Value '%s' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$", in.ReplicaRegion)
	}
	doc, err := in.parsePolicy()
	if err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "ReplicateKey"}, func(r *region, k *key) (any, error) {
		if err := c.checkReplicable(r, k, in.ReplicaRegion); err != nil {
			return nil, err
		}
		dest := c.e.regionLocked(in.ReplicaRegion, c.now)
		replica, err := c.newKeyLocked(dest, k.id, k.spec, k.usage, k.shared, &in.newKeyInput, doc)
		if err != nil {
			return nil, err
		}
		// As on AWS, a replica takes a while to be made; clients must wait for it.
		if d := c.e.replicaDelay; d > 0 {
			replica.state, replica.ready = stateCreating, c.now.Add(d)
			dest.pending++
		}
		delete(dest.deleted, k.id)
		k.shared.replicas = append(k.shared.replicas, in.ReplicaRegion)
		return struct {
			ReplicaKeyMetadata *keyMetadata
			ReplicaPolicy      string
			ReplicaTags        []tag
		}{c.e.metadata(replica), replica.policy, tagList(replica)}, nil
	})
}

// checkReplicable refuses a replica of k (in r) in dest that AWS refuses.
// e.mu must be held.
func (c *call) checkReplicable(r *region, k *key, dest string) error {
	m := k.shared
	switch {
	case !m.multiRegion:
		return newError(errUnsupportedOp, "%s is not a multi-Region key.", k.arn)
	case m.primary != r.name:
		return newError(errUnsupportedOp, "%s is not a primary multi-Region key; replicate the primary key.", k.arn)
	case pendingDeletion(k):
		return errKeyPendingDeletion(k.arn)
	case dest == r.name:
		return newError(errValidation, "The replica region must differ from the region of the primary key.")
	case partition(dest) != partition(r.name):
		return newError(errValidation, "The replica region %s is not in the partition of the primary key.", dest)
	}
	if d := c.e.regions[dest]; d != nil && d.keys[k.id] != nil {
		return newError(errAlreadyExists, "Replica key %s already exists.", keyARN(dest, c.e.account, k.id))
	}
	return nil
}

type policyInput struct {
	KeyId                          string
	PolicyName                     string
	Policy                         string
	BypassPolicyLockoutSafetyCheck bool
}

// decodePolicyInput reads a GetKeyPolicy or PutKeyPolicy request; put says
// whether it carries a policy.
func decodePolicyInput(body []byte, put bool) (policyInput, error) {
	var in policyInput
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.strLen("policyName", in.PolicyName, 1, 128)
		if put {
			v.required("policy", in.Policy != "")
			v.strLen("policy", in.Policy, 1, maxPolicyLength)
		}
	}); err != nil {
		return in, err
	}
	// KMS has only one key policy name.
	if in.PolicyName != "" && in.PolicyName != "default" {
		return in, newError(errNotFound, "No such policy exists: %s", in.PolicyName)
	}
	return in, nil
}

func (c *call) getKeyPolicy(body []byte) (any, error) {
	in, err := decodePolicyInput(body, false)
	if err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "GetKeyPolicy"}, func(_ *region, k *key) (any, error) {
		return map[string]string{"Policy": k.policy, "PolicyName": "default"}, nil
	})
}

func (c *call) putKeyPolicy(body []byte) (any, error) {
	in, err := decodePolicyInput(body, true)
	if err != nil {
		return nil, err
	}
	doc, err := parsePolicy(in.Policy)
	if err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "PutKeyPolicy"}, func(_ *region, k *key) (any, error) {
		if err := c.checkLockout(doc, k.arn, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
		k.doc, k.policy = doc, in.Policy
		return nil, nil
	})
}

// checkRotatable refuses rotation settings for keys that cannot rotate.
func checkRotatable(k *key) error {
	if k.spec != specSymmetric {
		return newError(errUnsupportedOp, "%s key spec is %s, which is not valid for automatic key rotation.", k.arn, k.spec)
	}
	return nil
}

// setRotation is the part EnableKeyRotation and DisableKeyRotation share: the
// checks, in AWS's order, before fn changes the rotation of k's material.
func setRotation(k *key, fn func(m *material)) (any, error) {
	if err := checkUsable(k); err != nil {
		return nil, err
	}
	if err := checkRotatable(k); err != nil {
		return nil, err
	}
	m := k.shared
	if m.multiRegion && m.primary != k.region {
		return nil, newError(errUnsupportedOp, "%s is a multi-Region replica key; rotation is set on its primary key.", k.arn)
	}
	fn(m)
	return nil, nil
}

func (c *call) enableKeyRotation(body []byte) (any, error) {
	return c.withDays(body, rotationPeriod, "EnableKeyRotation", func(_ *region, k *key, days int32) (any, error) {
		return setRotation(k, func(m *material) {
			if !m.rotation {
				m.rotationSince = c.now
			}
			m.rotation, m.rotationPeriod = true, days
		})
	})
}

func (c *call) disableKeyRotation(body []byte) (any, error) {
	return c.keyOp(body, access{action: "DisableKeyRotation"}, func(_ *region, k *key) (any, error) {
		return setRotation(k, func(m *material) {
			m.rotation, m.rotationPeriod, m.rotationSince = false, 0, time.Time{}
		})
	})
}

func (c *call) updateKeyDescription(body []byte) (any, error) {
	var in struct {
		KeyId       string
		Description *string
	}
	if err := decodeValid(body, &in, func(v *validator) {
		v.keyID(in.KeyId)
		v.required("description", in.Description != nil)
		if in.Description != nil {
			v.strLen("description", *in.Description, 0, 8192)
		}
	}); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, access{action: "UpdateKeyDescription"}, func(_ *region, k *key) (any, error) {
		if pendingDeletion(k) {
			return nil, errKeyPendingDeletion(k.arn)
		}
		k.description = *in.Description
		return nil, nil
	})
}

func (c *call) getKeyRotationStatus(body []byte) (any, error) {
	return c.keyOp(body, access{action: "GetKeyRotationStatus"}, func(_ *region, k *key) (any, error) {
		if err := checkRotatable(k); err != nil {
			return nil, err
		}
		m := k.shared
		out := struct {
			KeyRotationEnabled   bool
			KeyId                string
			RotationPeriodInDays *int32 `json:",omitempty"`
			NextRotationDate     *epoch `json:",omitempty"`
		}{KeyRotationEnabled: m.rotation, KeyId: k.arn}
		if m.rotation {
			period := m.rotationPeriod
			out.RotationPeriodInDays = &period
			out.NextRotationDate = epochPtr(nextRotation(m, c.now))
		}
		return out, nil
	})
}

// nextRotation is the first rotation date after now of a rotating key.
func nextRotation(m *material, now time.Time) time.Time {
	step := time.Duration(m.rotationPeriod) * 24 * time.Hour
	next := m.rotationSince.Add(step)
	for !next.After(now) {
		next = next.Add(step)
	}
	return next
}
