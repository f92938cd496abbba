package awsemu

import "time"

// keyMetadataOutput is the answer of CreateKey and DescribeKey.
type keyMetadataOutput struct {
	KeyMetadata *keyMetadata `json:"KeyMetadata"`
}

// keyIDInput is the input of the operations that take only a key.
type keyIDInput struct {
	KeyId       string
	GrantTokens []string
}

// validateKeyID checks a required KeyId member.
func validateKeyID(v *validator, keyID string) {
	v.required("keyId", keyID != "")
	v.strLen("keyId", keyID, 1, 2048)
}

// withKey resolves the KeyId, authorizes action on the key and runs fn with
// e.mu held.
func (c *call) withKey(keyID string, mode resolveMode, action string, fn func(r *region, k *key) (any, error)) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	k, err := c.resolveLocked(r, keyID, mode)
	if err != nil {
		return nil, err
	}
	if err := c.authorizeLocked(k, action, nil, nil); err != nil {
		return nil, err
	}
	return fn(r, k)
}

// keyOp is the shape of the operations whose input is just a KeyId.
func (c *call) keyOp(body []byte, mode resolveMode, action string, fn func(r *region, k *key) (any, error)) (any, error) {
	var in keyIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.grantTokens(in.GrantTokens)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := c.checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, mode, action, fn)
}

func (c *call) createKey(body []byte) (any, error) {
	var in struct {
		Policy                         string
		Description                    string
		KeyUsage                       string
		CustomerMasterKeySpec          string
		KeySpec                        string
		Origin                         string
		CustomKeyStoreId               string
		XksKeyId                       string
		BypassPolicyLockoutSafetyCheck bool
		MultiRegion                    bool
		Tags                           []tag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.tags(in.Tags)
	v.strLen("policy", in.Policy, 1, maxPolicyLength)
	v.strLen("description", in.Description, 0, 8192)
	v.enum("keyUsage", in.KeyUsage, keyUsageNames)
	v.enum("customerMasterKeySpec", in.CustomerMasterKeySpec, legacySpecNames)
	v.enum("keySpec", in.KeySpec, keySpecNames)
	v.enum("origin", in.Origin, originNames)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.KeySpec != "" && in.CustomerMasterKeySpec != "" {
		return nil, newError(errValidation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	if (in.Origin != "" && in.Origin != "AWS_KMS") || in.CustomKeyStoreId != "" || in.XksKeyId != "" {
		return nil, newError(errUnsupportedOp, "This KMS emulator creates only keys with origin AWS_KMS outside custom key stores.")
	}
	spec := cmpOr(in.KeySpec, in.CustomerMasterKeySpec, specSymmetric)
	usage := cmpOr(in.KeyUsage, usageEncrypt)
	if _, ok := keySpecs[spec][usage]; !ok {
		return nil, newError(errValidation, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	var doc *policyDoc
	if in.Policy != "" {
		var err error
		if doc, err = parsePolicy(in.Policy); err != nil {
			return nil, err
		}
	}
	id := newUUID()
	if in.MultiRegion {
		id = "mrk-" + randomHex(16)
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r := c.e.regionLocked(c.region, c.now)
	if doc != nil {
		if err := c.checkLockout(doc, keyARN(r.name, c.e.account, id), in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	k := c.e.addKeyLocked(r, id, spec, usage, managerCustomer, in.Description, c.now, newMaterial(spec, in.MultiRegion, r.name))
	if doc != nil {
		k.doc, k.policy = doc, in.Policy
	}
	setTags(k, in.Tags)
	c.key = k.arn
	return keyMetadataOutput{c.e.metadata(k)}, nil
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
	return c.keyOp(body, aliasesToo, "DescribeKey", func(_ *region, k *key) (any, error) {
		return keyMetadataOutput{c.e.metadata(k)}, nil
	})
}

func (c *call) enableKey(body []byte) (any, error) {
	return c.keyOp(body, keyOnly, "EnableKey", func(_ *region, k *key) (any, error) {
		return nil, setState(k, stateEnabled)
	})
}

func (c *call) disableKey(body []byte) (any, error) {
	return c.keyOp(body, keyOnly, "DisableKey", func(_ *region, k *key) (any, error) {
		return nil, setState(k, stateDisabled)
	})
}

func setState(k *key, state string) error {
	if k.state != stateEnabled && k.state != stateDisabled {
		return errKeyState(k)
	}
	k.state = state
	return nil
}

func (c *call) scheduleKeyDeletion(body []byte) (any, error) {
	var in struct {
		KeyId               string
		PendingWindowInDays *int32
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.intRange("pendingWindowInDays", in.PendingWindowInDays, 7, 30)
	if err := v.err(); err != nil {
		return nil, err
	}
	days := int32(30)
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
	}
	return c.withKey(in.KeyId, keyOnly, "ScheduleKeyDeletion", func(r *region, k *key) (any, error) {
		if k.state != stateEnabled && k.state != stateDisabled {
			return nil, errKeyState(k)
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
	return c.keyOp(body, keyOnly, "CancelKeyDeletion", func(r *region, k *key) (any, error) {
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
		KeyId                          string
		ReplicaRegion                  string
		Policy                         string
		BypassPolicyLockoutSafetyCheck bool
		Description                    string
		Tags                           []tag
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.tags(in.Tags)
	v.required("replicaRegion", in.ReplicaRegion != "")
	v.strLen("replicaRegion", in.ReplicaRegion, 1, 32)
	v.strLen("policy", in.Policy, 1, maxPolicyLength)
	v.strLen("description", in.Description, 0, 8192)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if !regionPattern.MatchString(in.ReplicaRegion) {
		return nil, newError(errValidation, "1 validation error detected: Value '%s' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$", in.ReplicaRegion)
	}
	var doc *policyDoc
	if in.Policy != "" {
		var err error
		if doc, err = parsePolicy(in.Policy); err != nil {
			return nil, err
		}
	}
	return c.withKey(in.KeyId, keyOnly, "ReplicateKey", func(r *region, k *key) (any, error) {
		m := k.shared
		switch {
		case !m.multiRegion:
			return nil, newError(errUnsupportedOp, "%s is not a multi-Region key.", k.arn)
		case m.primary != r.name:
			return nil, newError(errUnsupportedOp, "%s is not a primary multi-Region key; replicate the primary key.", k.arn)
		case pendingDeletion(k):
			return nil, errKeyPendingDeletion(k.arn)
		case in.ReplicaRegion == r.name:
			return nil, newError(errValidation, "The replica region must differ from the region of the primary key.")
		case partition(in.ReplicaRegion) != partition(r.name):
			return nil, newError(errValidation, "The replica region %s is not in the partition of the primary key.", in.ReplicaRegion)
		}
		dest := c.e.regionLocked(in.ReplicaRegion, c.now)
		if _, ok := dest.keys[k.id]; ok {
			return nil, newError(errAlreadyExists, "Replica key %s already exists.", keyARN(in.ReplicaRegion, c.e.account, k.id))
		}
		replicaARN := keyARN(in.ReplicaRegion, c.e.account, k.id)
		if doc != nil {
			if err := c.checkLockout(doc, replicaARN, in.BypassPolicyLockoutSafetyCheck); err != nil {
				return nil, err
			}
		}
		replica := c.e.addKeyLocked(dest, k.id, k.spec, k.usage, managerCustomer, in.Description, c.now, m)
		if doc != nil {
			replica.doc, replica.policy = doc, in.Policy
		}
		setTags(replica, in.Tags)
		// As on AWS, a replica takes a while to be made; clients must wait for it.
		if d := c.e.replicaDelay; d > 0 {
			replica.state, replica.ready = stateCreating, c.now.Add(d)
			dest.pending++
		}
		delete(dest.deleted, k.id)
		m.replicas = append(m.replicas, in.ReplicaRegion)
		return struct {
			ReplicaKeyMetadata *keyMetadata
			ReplicaPolicy      string
			ReplicaTags        []tag
		}{c.e.metadata(replica), replica.policy, tagList(replica)}, nil
	})
}

type policyInput struct {
	KeyId                          string
	PolicyName                     string
	Policy                         string
	BypassPolicyLockoutSafetyCheck bool
}

// checkPolicyName accepts the only key policy name KMS has.
func checkPolicyName(name string) error {
	if name != "" && name != "default" {
		return newError(errNotFound, "No such policy exists: %s", name)
	}
	return nil
}

func (c *call) getKeyPolicy(body []byte) (any, error) {
	var in policyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.strLen("policyName", in.PolicyName, 1, 128)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, keyOnly, "GetKeyPolicy", func(_ *region, k *key) (any, error) {
		return map[string]string{"Policy": k.policy, "PolicyName": "default"}, nil
	})
}

func (c *call) putKeyPolicy(body []byte) (any, error) {
	var in policyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.strLen("policyName", in.PolicyName, 1, 128)
	v.required("policy", in.Policy != "")
	v.strLen("policy", in.Policy, 1, maxPolicyLength)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	doc, err := parsePolicy(in.Policy)
	if err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, keyOnly, "PutKeyPolicy", func(_ *region, k *key) (any, error) {
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

func (c *call) enableKeyRotation(body []byte) (any, error) {
	var in struct {
		KeyId                string
		RotationPeriodInDays *int32
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.intRange("rotationPeriodInDays", in.RotationPeriodInDays, 90, 2560)
	if err := v.err(); err != nil {
		return nil, err
	}
	period := int32(365)
	if in.RotationPeriodInDays != nil {
		period = *in.RotationPeriodInDays
	}
	return c.withKey(in.KeyId, keyOnly, "EnableKeyRotation", func(_ *region, k *key) (any, error) {
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
		if !m.rotation {
			m.rotationSince = c.now
		}
		m.rotation, m.rotationPeriod = true, period
		return nil, nil
	})
}

func (c *call) disableKeyRotation(body []byte) (any, error) {
	return c.keyOp(body, keyOnly, "DisableKeyRotation", func(_ *region, k *key) (any, error) {
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
		m.rotation, m.rotationPeriod, m.rotationSince = false, 0, time.Time{}
		return nil, nil
	})
}

func (c *call) updateKeyDescription(body []byte) (any, error) {
	var in struct {
		KeyId       string
		Description *string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.required("description", in.Description != nil)
	if in.Description != nil {
		v.strLen("description", *in.Description, 0, 8192)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, keyOnly, "UpdateKeyDescription", func(_ *region, k *key) (any, error) {
		if pendingDeletion(k) {
			return nil, errKeyPendingDeletion(k.arn)
		}
		k.description = *in.Description
		return nil, nil
	})
}

func (c *call) listKeyPolicies(body []byte) (any, error) {
	var in struct {
		KeyId  string
		Limit  *int32
		Marker string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	validateKeyID(&v, in.KeyId)
	v.intRange("limit", in.Limit, 1, 1000)
	v.strLen("marker", in.Marker, 1, 320)
	if err := v.err(); err != nil {
		return nil, err
	}
	return c.withKey(in.KeyId, keyOnly, "ListKeyPolicies", func(*region, *key) (any, error) {
		// A key has exactly one policy, and KMS names it "default".
		page, next, err := paginate([]string{"default"}, func(s string) string { return s }, in.Limit, 100, in.Marker)
		if err != nil {
			return nil, err
		}
		return listOutput("PolicyNames", page, next), nil
	})
}

func (c *call) getKeyRotationStatus(body []byte) (any, error) {
	return c.keyOp(body, keyOnly, "GetKeyRotationStatus", func(_ *region, k *key) (any, error) {
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
