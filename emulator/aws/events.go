package awsemu

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// EventBridge: rules on each region's default bus, their targets, connections with API-key auth and
// API destinations, as the AWS CLI and Terraform's aws_cloudwatch_event_* resources use them (JSON
// 1.1, X-Amz-Target: AWSEvents.<Op>). KMS calls that change a key emit CloudTrail-shaped events on
// the default bus of the key's region; a rule whose pattern matches sends them to its API
// destinations, asynchronously, retried with backoff for a bounded time.

const eventsTargetPrefix = "AWSEvents."

// eventsState is what the emulator keeps of EventBridge, by region; it is saved in the state file.
type eventsState struct {
	Rules        map[string]*ebRule           `json:"rules,omitempty"`        // region/name
	Connections  map[string]*ebConnection     `json:"connections,omitempty"`  // region/name
	Destinations map[string]*ebDestination    `json:"destinations,omitempty"` // region/name
	Tags         map[string]map[string]string `json:"tags,omitempty"`         // by ARN
}

type ebRule struct {
	Name, Arn, Region, Pattern, State, Description, Schedule, RoleArn string
	Targets                                                           []ebTarget
	Created                                                           time.Time
}

type ebTarget struct {
	Id, Arn string
	RoleArn string `json:",omitempty"`
	Input   string `json:",omitempty"`
}

type ebConnection struct {
	Name, Arn, Region, Description, AuthorizationType, APIKeyName, APIKeyValue string
	Created, Modified                                                          time.Time
}

type ebDestination struct {
	Name, Arn, Region, Description, ConnectionArn, Endpoint, Method string
	RateLimit                                                       int
	Created, Modified                                               time.Time
}

func newEventsState() *eventsState {
	return &eventsState{Rules: map[string]*ebRule{}, Connections: map[string]*ebConnection{}, Destinations: map[string]*ebDestination{},
		Tags: map[string]map[string]string{}}
}

var eventsOperations = map[string]handlerFunc{
	"PutRule":                (*call).putRule,
	"DescribeRule":           (*call).describeRule,
	"ListRules":              (*call).listRules,
	"DeleteRule":             (*call).deleteRule,
	"EnableRule":             func(c *call, b []byte) (any, error) { return c.setRuleState(b, "ENABLED") },
	"DisableRule":            func(c *call, b []byte) (any, error) { return c.setRuleState(b, "DISABLED") },
	"PutTargets":             (*call).putTargets,
	"ListTargetsByRule":      (*call).listTargetsByRule,
	"RemoveTargets":          (*call).removeTargets,
	"CreateConnection":       (*call).createConnection,
	"UpdateConnection":       (*call).updateConnection,
	"DescribeConnection":     (*call).describeConnection,
	"DeleteConnection":       (*call).deleteConnection,
	"CreateApiDestination":   (*call).createAPIDestination,
	"DescribeApiDestination": (*call).describeAPIDestination,
	"DeleteApiDestination":   (*call).deleteAPIDestination,
	"ListTagsForResource":    (*call).listEventTags,
	"TagResource":            (*call).tagEventResource,
	"UntagResource":          (*call).untagEventResource,
}

var eventsReadOnly = []string{"DescribeRule", "ListRules", "ListTargetsByRule", "DescribeConnection", "DescribeApiDestination", "ListTagsForResource"}

const (
	errResourceNotFound = "ResourceNotFoundException"
	errResourceExists   = "ResourceAlreadyExistsException"
)

func (c *call) account() string {
	if c.principal.account != "" {
		return c.principal.account
	}
	return c.e.account
}

func (c *call) eventsARN(kind, name string) string {
	return "arn:" + partition(c.region) + ":events:" + c.region + ":" + c.account() + ":" + kind + "/" + name
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func ebDecode(body []byte, in any) error {
	if err := json.Unmarshal(body, in); err != nil {
		return newError(errSerialization, "The request body is not valid JSON.")
	}
	return nil
}

// decodeLocked is the prelude of the EventBridge handlers: it decodes the request into a T, then
// runs f with c.e.mu held.
func decodeLocked[T any](c *call, body []byte, f func(in *T) (any, error)) (any, error) {
	var in T
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return f(&in)
}

// namedLocked runs f, with c.e.mu held, on the resource that find finds by the request's Name.
func namedLocked[R any](c *call, body []byte, find func(*call, string) (*R, error), f func(*R) (any, error)) (any, error) {
	return decodeLocked(c, body, func(in *struct{ Name string }) (any, error) {
		r, err := find(c, in.Name)
		if err != nil {
			return nil, err
		}
		return f(r)
	})
}

// ruleDo runs f, with c.e.mu held, on the rule the request names.
func (c *call) ruleDo(body []byte, f func(*ebRule) (any, error)) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r, err := c.ruleLocked(body)
	if err != nil {
		return nil, err
	}
	return f(r)
}

func notFound(what, name string) error {
	return newError(errResourceNotFound, "%s %s does not exist.", what, name)
}

func defaultBus(bus string) error {
	if bus != "" && bus != "default" && !strings.HasSuffix(bus, ":event-bus/default") {
		return newError(errResourceNotFound, "Event bus %s does not exist.", bus)
	}
	return nil
}

func (c *call) putRule(body []byte) (any, error) {
	var in struct {
		Name, EventPattern, ScheduleExpression, State, Description, RoleArn, EventBusName string
		Tags                                                                              []struct{ Key, Value string }
	}
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	if err := defaultBus(in.EventBusName); err != nil {
		return nil, err
	}
	if in.Name == "" || len(in.Name) > 64 {
		return nil, newError(errValidation, "1 validation error detected: Value at 'name' failed to satisfy constraint.")
	}
	if in.EventPattern == "" && in.ScheduleExpression == "" {
		return nil, newError(errValidation, "Parameter(s) EventPattern or ScheduleExpression must be specified.")
	}
	if in.EventPattern != "" {
		if _, err := parsePattern(in.EventPattern); err != nil {
			return nil, newError("InvalidEventPatternException", "%s", err.Error())
		}
	}
	if in.State == "" {
		in.State = "ENABLED"
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	ev := c.e.eventsLocked()
	id := c.region + "/" + in.Name
	r := ev.Rules[id]
	if r == nil {
		r = &ebRule{Name: in.Name, Arn: c.eventsARN("rule", in.Name), Region: c.region, Created: c.now}
		ev.Rules[id] = r
	}
	r.Pattern, r.State, r.Description, r.Schedule, r.RoleArn = in.EventPattern, in.State, in.Description, in.ScheduleExpression, in.RoleArn
	for _, t := range in.Tags {
		ev.tag(r.Arn, t.Key, t.Value)
	}
	return map[string]string{"RuleArn": r.Arn}, nil
}

func (es *eventsState) tag(arn, k, v string) {
	if es.Tags[arn] == nil {
		es.Tags[arn] = map[string]string{}
	}
	es.Tags[arn][k] = v
}

func ruleJSON(r *ebRule) map[string]any {
	out := map[string]any{"Name": r.Name, "Arn": r.Arn, "State": r.State, "EventBusName": "default"}
	setIf(out, "EventPattern", r.Pattern)
	setIf(out, "Description", r.Description)
	setIf(out, "ScheduleExpression", r.Schedule)
	setIf(out, "RoleArn", r.RoleArn)
	return out
}

// setIf sets out's field to v unless v is empty: EventBridge leaves out what was never set.
func setIf(out map[string]any, field, v string) {
	if v != "" {
		out[field] = v
	}
}

type ruleInput struct {
	Name, Rule, EventBusName string
	Force                    bool
}

// rule finds the rule a request names. c.e.mu must be held.
func (c *call) ruleLocked(body []byte) (*ebRule, error) {
	var in ruleInput
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	if err := defaultBus(in.EventBusName); err != nil {
		return nil, err
	}
	name := cmpOr(in.Name, in.Rule)
	r := c.e.eventsLocked().Rules[c.region+"/"+name]
	if r == nil {
		return nil, newError(errResourceNotFound, "Rule %s does not exist on EventBus default.", name)
	}
	return r, nil
}

func (c *call) describeRule(body []byte) (any, error) {
	return c.ruleDo(body, func(r *ebRule) (any, error) {
		out := ruleJSON(r)
		out["CreatedBy"] = c.account()
		return out, nil
	})
}

func (c *call) setRuleState(body []byte, state string) (any, error) {
	return c.ruleDo(body, func(r *ebRule) (any, error) {
		r.State = state
		return struct{}{}, nil
	})
}

func (c *call) listRules(body []byte) (any, error) {
	return decodeLocked(c, body, func(in *struct{ NamePrefix, EventBusName string }) (any, error) {
		rules := []map[string]any{}
		for _, r := range c.e.eventsLocked().Rules {
			if r.Region == c.region && strings.HasPrefix(r.Name, in.NamePrefix) {
				rules = append(rules, ruleJSON(r))
			}
		}
		sort.Slice(rules, func(i, j int) bool { return rules[i]["Name"].(string) < rules[j]["Name"].(string) })
		return map[string]any{"Rules": rules}, nil
	})
}

func (c *call) deleteRule(body []byte) (any, error) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	r, err := c.ruleLocked(body)
	if err != nil {
		var ae *apiError
		if asAPIError(err, &ae) && ae.typ == errResourceNotFound {
			return struct{}{}, nil // deleting a rule that is not there succeeds, as on AWS
		}
		return nil, err
	}
	if len(r.Targets) > 0 {
		return nil, newError(errValidation, "Rule can't be deleted since it has targets.")
	}
	ev := c.e.eventsLocked()
	delete(ev.Rules, c.region+"/"+r.Name)
	delete(ev.Tags, r.Arn)
	return struct{}{}, nil
}

func (c *call) putTargets(body []byte) (any, error) {
	var in struct {
		Rule, EventBusName string
		Targets            []ebTarget
	}
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	return c.ruleDo(body, func(r *ebRule) (any, error) {
		for _, t := range in.Targets {
			if t.Id == "" || t.Arn == "" {
				return nil, newError(errValidation, "A target needs an Id and an Arn.")
			}
			i := slices.IndexFunc(r.Targets, func(x ebTarget) bool { return x.Id == t.Id })
			if i >= 0 {
				r.Targets[i] = t
			} else {
				r.Targets = append(r.Targets, t)
			}
		}
		return map[string]any{"FailedEntryCount": 0, "FailedEntries": []any{}}, nil
	})
}

func (c *call) listTargetsByRule(body []byte) (any, error) {
	return c.ruleDo(body, func(r *ebRule) (any, error) {
		targets := append([]ebTarget{}, r.Targets...)
		return map[string]any{"Targets": targets}, nil
	})
}

func (c *call) removeTargets(body []byte) (any, error) {
	var in struct{ Ids []string }
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	return c.ruleDo(body, func(r *ebRule) (any, error) {
		r.Targets = slices.DeleteFunc(r.Targets, func(t ebTarget) bool { return slices.Contains(in.Ids, t.Id) })
		return map[string]any{"FailedEntryCount": 0, "FailedEntries": []any{}}, nil
	})
}

type connectionInput struct {
	Name, Description, AuthorizationType string
	AuthParameters                       struct {
		ApiKeyAuthParameters *struct{ ApiKeyName, ApiKeyValue string }
	}
}

func (c *call) createConnection(body []byte) (any, error) {
	var in connectionInput
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" || in.AuthorizationType == "" {
		return nil, newError(errValidation, "Name and AuthorizationType are required.")
	}
	if in.AuthorizationType != "API_KEY" {
		return nil, newError(errValidation, "This emulator's connections take AuthorizationType API_KEY only.")
	}
	a := in.AuthParameters.ApiKeyAuthParameters
	if a == nil || a.ApiKeyName == "" || a.ApiKeyValue == "" {
		return nil, newError(errValidation, "ApiKeyAuthParameters needs ApiKeyName and ApiKeyValue.")
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	ev := c.e.eventsLocked()
	id := c.region + "/" + in.Name
	if ev.Connections[id] != nil {
		return nil, newError(errResourceExists, "Connection %s already exists.", in.Name)
	}
	cn := &ebConnection{Name: in.Name, Arn: c.eventsARN("connection", in.Name+"/"+newUUID()), Region: c.region, Description: in.Description,
		AuthorizationType: in.AuthorizationType, APIKeyName: a.ApiKeyName, APIKeyValue: a.ApiKeyValue, Created: c.now, Modified: c.now}
	ev.Connections[id] = cn
	return map[string]any{"ConnectionArn": cn.Arn, "ConnectionState": "AUTHORIZED", "CreationTime": unixSeconds(cn.Created),
		"LastModifiedTime": unixSeconds(cn.Modified)}, nil
}

// regional finds the resource of this call's region named name in m, or answers that what is not there.
func regional[R any](c *call, m map[string]*R, what, name string) (*R, error) {
	r := m[c.region+"/"+name]
	if r == nil {
		return nil, notFound(what, name)
	}
	return r, nil
}

func (c *call) connectionLocked(name string) (*ebConnection, error) {
	return regional(c, c.e.eventsLocked().Connections, "Connection", name)
}

func (c *call) updateConnection(body []byte) (any, error) {
	return decodeLocked(c, body, func(in *connectionInput) (any, error) {
		cn, err := c.connectionLocked(in.Name)
		if err != nil {
			return nil, err
		}
		if a := in.AuthParameters.ApiKeyAuthParameters; a != nil {
			cn.APIKeyName, cn.APIKeyValue = cmpOr(a.ApiKeyName, cn.APIKeyName), cmpOr(a.ApiKeyValue, cn.APIKeyValue)
		}
		if in.Description != "" {
			cn.Description = in.Description
		}
		cn.Modified = c.now
		return map[string]any{"ConnectionArn": cn.Arn, "ConnectionState": "AUTHORIZED", "CreationTime": unixSeconds(cn.Created),
			"LastModifiedTime": unixSeconds(cn.Modified)}, nil
	})
}

func (c *call) describeConnection(body []byte) (any, error) {
	return namedLocked(c, body, (*call).connectionLocked, c.connectionJSON)
}

func (c *call) connectionJSON(cn *ebConnection) (any, error) {
	out := map[string]any{"ConnectionArn": cn.Arn, "Name": cn.Name, "ConnectionState": "AUTHORIZED", "AuthorizationType": cn.AuthorizationType,
		// The value is a secret: EventBridge keeps it in Secrets Manager and never shows it.
		"AuthParameters": map[string]any{"ApiKeyAuthParameters": map[string]string{"ApiKeyName": cn.APIKeyName}},
		"SecretArn":      "arn:" + partition(c.region) + ":secretsmanager:" + c.region + ":" + c.account() + ":secret:events!connection/" + cn.Name,
		"CreationTime":   unixSeconds(cn.Created), "LastModifiedTime": unixSeconds(cn.Modified), "LastAuthorizedTime": unixSeconds(cn.Modified)}
	setIf(out, "Description", cn.Description)
	return out, nil
}

func (c *call) deleteConnection(body []byte) (any, error) {
	return namedLocked(c, body, (*call).connectionLocked, func(cn *ebConnection) (any, error) {
		delete(c.e.eventsLocked().Connections, c.region+"/"+cn.Name)
		return map[string]any{"ConnectionArn": cn.Arn, "ConnectionState": "DELETING", "CreationTime": unixSeconds(cn.Created),
			"LastModifiedTime": unixSeconds(c.now)}, nil
	})
}

func (c *call) createAPIDestination(body []byte) (any, error) {
	var in struct {
		Name, Description, ConnectionArn, InvocationEndpoint, HttpMethod string
		InvocationRateLimitPerSecond                                     int
	}
	if err := ebDecode(body, &in); err != nil {
		return nil, err
	}
	u, err := url.Parse(in.InvocationEndpoint)
	if in.Name == "" || in.ConnectionArn == "" || in.HttpMethod == "" || err != nil || u.Host == "" ||
		(u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return nil, newError(errValidation, "Name, ConnectionArn, HttpMethod and an https InvocationEndpoint are required (this emulator also takes http on loopback).")
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	ev := c.e.eventsLocked()
	found := false
	for _, cn := range ev.Connections {
		found = found || cn.Arn == in.ConnectionArn
	}
	if !found {
		return nil, newError(errResourceNotFound, "Connection %s does not exist.", in.ConnectionArn)
	}
	id := c.region + "/" + in.Name
	if ev.Destinations[id] != nil {
		return nil, newError(errResourceExists, "An api-destination %s already exists.", in.Name)
	}
	if in.InvocationRateLimitPerSecond == 0 {
		in.InvocationRateLimitPerSecond = 300
	}
	d := &ebDestination{Name: in.Name, Arn: c.eventsARN("api-destination", in.Name+"/"+newUUID()), Region: c.region, Description: in.Description,
		ConnectionArn: in.ConnectionArn, Endpoint: in.InvocationEndpoint, Method: in.HttpMethod, RateLimit: in.InvocationRateLimitPerSecond,
		Created: c.now, Modified: c.now}
	ev.Destinations[id] = d
	return map[string]any{"ApiDestinationArn": d.Arn, "ApiDestinationState": "ACTIVE", "CreationTime": unixSeconds(d.Created),
		"LastModifiedTime": unixSeconds(d.Modified)}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *call) destinationLocked(name string) (*ebDestination, error) {
	return regional(c, c.e.eventsLocked().Destinations, "An api-destination", name)
}

func (c *call) describeAPIDestination(body []byte) (any, error) {
	return namedLocked(c, body, (*call).destinationLocked, destinationJSON)
}

func destinationJSON(d *ebDestination) (any, error) {
	out := map[string]any{"ApiDestinationArn": d.Arn, "Name": d.Name, "ApiDestinationState": "ACTIVE", "ConnectionArn": d.ConnectionArn,
		"InvocationEndpoint": d.Endpoint, "HttpMethod": d.Method, "InvocationRateLimitPerSecond": d.RateLimit,
		"CreationTime": unixSeconds(d.Created), "LastModifiedTime": unixSeconds(d.Modified)}
	setIf(out, "Description", d.Description)
	return out, nil
}

func (c *call) deleteAPIDestination(body []byte) (any, error) {
	return namedLocked(c, body, (*call).destinationLocked, func(d *ebDestination) (any, error) {
		delete(c.e.eventsLocked().Destinations, c.region+"/"+d.Name)
		return struct{}{}, nil
	})
}

// eventTagsInput is what ListTagsForResource, TagResource and UntagResource send.
type eventTagsInput struct {
	ResourceARN string
	Tags        []struct{ Key, Value string }
	TagKeys     []string
}

func (c *call) listEventTags(body []byte) (any, error) {
	return decodeLocked(c, body, func(in *eventTagsInput) (any, error) {
		tags := []map[string]string{}
		for k, v := range c.e.eventsLocked().Tags[in.ResourceARN] {
			tags = append(tags, map[string]string{"Key": k, "Value": v})
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i]["Key"] < tags[j]["Key"] })
		return map[string]any{"Tags": tags}, nil
	})
}

func (c *call) tagEventResource(body []byte) (any, error) {
	return decodeLocked(c, body, func(in *eventTagsInput) (any, error) {
		for _, t := range in.Tags {
			c.e.eventsLocked().tag(in.ResourceARN, t.Key, t.Value)
		}
		return struct{}{}, nil
	})
}

func (c *call) untagEventResource(body []byte) (any, error) {
	return decodeLocked(c, body, func(in *eventTagsInput) (any, error) {
		for _, k := range in.TagKeys {
			delete(c.e.eventsLocked().Tags[in.ResourceARN], k)
		}
		return struct{}{}, nil
	})
}

// eventsLocked is the EventBridge state. c.e.mu must be held.
func (e *Emulator) eventsLocked() *eventsState {
	if e.events == nil {
		e.events = newEventsState()
	}
	return e.events
}

// emittingOps are the KMS calls whose CloudTrail records reach EventBridge as events.
var emittingOps = []string{"DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "PutKeyPolicy",
	"RevokeGrant", "RetireGrant", "DeleteImportedKeyMaterial", "UpdatePrimaryRegion", "ReplicateKey"}

// emitCall sends the CloudTrail-shaped event of a successful KMS call about key keyARN.
func (c *call) emitCall(keyARN string, body []byte) {
	var params map[string]any
	_ = json.Unmarshal(body, &params)
	if params == nil {
		params = map[string]any{}
	}
	delete(params, "Policy") // CloudTrail records policies, but no event needs one here
	lower := map[string]any{}
	for k, v := range params {
		lower[strings.ToLower(k[:1])+k[1:]] = v
	}
	f := strings.SplitN(keyARN, ":", 6)
	account, region := c.e.account, c.region
	if len(f) == 6 {
		account, region = f[4], f[3]
	}
	ev := map[string]any{
		"version": "0", "id": newUUID(), "detail-type": "AWS API Call via CloudTrail", "source": "aws.kms",
		"account": account, "time": c.now.UTC().Format(time.RFC3339), "region": region,
		// As on AWS, a CloudTrail record's event names the key in detail.resources only.
		"resources": []string{},
		"detail": map[string]any{
			"eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": c.op, "awsRegion": region,
			"eventTime": c.now.UTC().Format(time.RFC3339), "eventID": newUUID(), "eventType": "AwsApiCall", "requestID": c.requestID,
			"userIdentity":      map[string]any{"type": "Root", "arn": c.principal.arn, "accountId": c.principal.account},
			"requestParameters": lower, "readOnly": false, "managementEvent": true, "eventCategory": "Management",
			"resources": []any{map[string]any{"ARN": keyARN, "accountId": account, "type": "AWS::KMS::Key"}},
		},
	}
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	c.e.publishLocked(region, account, ev)
}

// emitDeletionLocked sends KMS's own event of a key's deletion. e.mu must be held.
func (e *Emulator) emitDeletionLocked(region, keyARN, keyID string, now time.Time) {
	e.publishLocked(region, e.account, map[string]any{
		"version": "0", "id": newUUID(), "detail-type": "KMS CMK Deletion", "source": "aws.kms", "account": e.account,
		"time": now.UTC().Format(time.RFC3339), "region": region, "resources": []string{keyARN},
		"detail": map[string]any{"key-id": keyID},
	})
}

// publishLocked puts ev on the default bus of region: each enabled rule whose pattern matches sends
// it to its API destinations. e.mu must be held.
func (e *Emulator) publishLocked(region, account string, ev map[string]any) {
	if e.events == nil {
		return
	}
	raw, _ := json.Marshal(ev)
	var decoded map[string]any
	_ = json.Unmarshal(raw, &decoded)
	for _, r := range e.events.Rules {
		if r.Region != region || r.State != "ENABLED" || r.Pattern == "" || arnAccount(r.Arn) != account {
			continue
		}
		p, err := parsePattern(r.Pattern)
		if err != nil || !matchPattern(p, decoded) {
			continue
		}
		for _, t := range r.Targets {
			for _, d := range e.events.Destinations {
				if d.Arn != t.Arn {
					continue
				}
				for _, cn := range e.events.Connections {
					if cn.Arn == d.ConnectionArn {
						go e.deliver(d.Method, d.Endpoint, cn.APIKeyName, cn.APIKeyValue, raw)
					}
				}
			}
		}
	}
}

// deliveryFor bounds how long a delivery is retried.
const deliveryFor = time.Minute

// deliver sends one event to an API destination after the event delay, retried with backoff
// while the answer is a network error, 429 or 5xx, for deliveryFor at most.
func (e *Emulator) deliver(method, endpoint, header, value string, body []byte) {
	if e.eventDelay > 0 {
		time.Sleep(e.eventDelay)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(deliveryFor)
	wait := 100 * time.Millisecond
	for {
		req, err := http.NewRequest(method, endpoint, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("User-Agent", "Amazon/EventBridge/ApiDestinations")
		req.Header.Set(header, value)
		resp, err := client.Do(req)
		status := 0
		if err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if err == nil && status != http.StatusTooManyRequests && status < 500 {
			e.log.Info("eventbridge delivery", "endpoint", endpoint, "status", status)
			return
		}
		if time.Now().Add(wait).After(deadline) {
			e.log.Warn("eventbridge delivery given up", "endpoint", endpoint, "status", status)
			return
		}
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Second)
	}
}

// asAPIError is errors.As for *apiError.
func asAPIError(err error, target **apiError) bool {
	ae, ok := err.(*apiError)
	if ok {
		*target = ae
	}
	return ok
}
