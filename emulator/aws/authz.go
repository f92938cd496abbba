package awsemu

import (
	"slices"
	"strings"
)

// authorizeLocked decides whether the caller may perform a.action
// ("Encrypt") on k: an explicit Deny in the key policy refuses, an Allow or a
// grant admits, anything else refuses. Administrative actions are refused to
// other accounts before any policy is read: AWS documents them "Cross-account
// use: No". e.mu must be held.
func (c *call) authorizeLocked(k *key, a access) error {
	action, byGrant := a.action, a.byGrant
	if byGrant == nil {
		byGrant = func(g *grant) bool { return g.admits(c.principal, action, a.encCtx) }
	}
	if c.principal.account != c.e.account && !slices.Contains(crossAccountActions, action) {
		return newError(errAccessDenied, "User: %s is not authorized to perform: kms:%s on resource: %s because kms:%s cannot be used across accounts",
			c.principal.arn, action, k.arn, action)
	}
	req := &authzRequest{
		principal: c.principal,
		action:    "kms:" + action,
		resource:  k.arn,
		context:   conditionContext(c.principal, a.encCtx, a.extra),
	}
	switch k.doc.evaluate(req) {
	case denied:
		return newError(errAccessDenied, "User: %s is not authorized to perform: kms:%s on resource: %s with an explicit deny in a resource-based policy",
			c.principal.arn, action, k.arn)
	case allowed:
		return nil
	}
	if slices.ContainsFunc(k.grants, byGrant) {
		return nil
	}
	return c.accessDenied(action, k.arn)
}

func (c *call) accessDenied(action, arn string) error {
	return newError(errAccessDenied, "User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action",
		c.principal.arn, action, arn, action)
}

// conditionContext builds the condition keys of a request, lowercased as IAM
// compares them. kms:EncryptionContext:<key> matches the key without regard
// to case, so context keys that differ only by case share one condition key,
// which then holds all their values (sorted, so that nothing depends on map
// order). kms:ViaService is never present: calls come straight from their
// principal, never through an AWS service.
func conditionContext(p principal, encCtx map[string]string, extra map[string][]string) map[string][]string {
	cond := map[string][]string{
		"aws:principalarn":     {p.arn},
		"aws:principalaccount": {p.account},
		"kms:calleraccount":    {p.account},
	}
	if len(encCtx) > 0 {
		keys := make([]string, 0, len(encCtx))
		for k, v := range encCtx {
			keys = append(keys, k)
			name := contextConditionPrefix + strings.ToLower(k)
			cond[name] = append(cond[name], v)
		}
		slices.Sort(keys)
		for _, k := range keys {
			slices.Sort(cond[contextConditionPrefix+strings.ToLower(k)])
		}
		cond["kms:encryptioncontextkeys"] = keys
	}
	for k, v := range extra {
		cond[strings.ToLower(k)] = v
	}
	return cond
}

// contextConditionPrefix starts the (lowercased) kms:EncryptionContext:<key> condition keys.
const contextConditionPrefix = "kms:encryptioncontext:"

// grantConditions are the condition keys of the grant-management operations.
func grantConditions() map[string][]string {
	return map[string][]string{"kms:GrantIsForAWSResource": {"false"}}
}

// checkLockout is KMS's policy lockout safety check: a new policy must still
// let the caller change it.
func (c *call) checkLockout(doc *policyDoc, keyARN string, bypass bool) error {
	if bypass {
		return nil
	}
	req := &authzRequest{principal: c.principal, action: "kms:PutKeyPolicy", resource: keyARN,
		context: conditionContext(c.principal, nil, nil)}
	if doc.evaluate(req) != allowed {
		return newError(errMalformedPolicy, msgPolicyLockout)
	}
	return nil
}
