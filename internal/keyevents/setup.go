package keyevents

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cmekd/cmekd/internal/domain"
)

// APIKeyName is the header EventBridge's connection sends the api key in.
const APIKeyName = "Cmekd-Events-Key"

// EventNames are the KMS API calls (as CloudTrail names them) that may change whether cmekd can use
// a key; DetailTypes the events KMS sends of its own.
var (
	EventNames = []string{"DisableKey", "EnableKey", "ScheduleKeyDeletion", "CancelKeyDeletion", "PutKeyPolicy",
		"RevokeGrant", "RetireGrant", "DeleteImportedKeyMaterial", "UpdatePrimaryRegion", "ReplicateKey"}
	cloudTrailType = "AWS API Call via CloudTrail"
	DetailTypes    = []string{"KMS CMK Deletion", "KMS Imported Key Material Expiration"}
)

// Setup is what a customer runs in their own AWS account to deliver their keys' events to cmekd.
type Setup struct {
	EventPattern   map[string]any
	CLI            string
	Terraform      string
	CloudFormation string
}

// place is one account and region of linked keys: EventBridge rules are regional, and KMS sends a
// key's events to the default bus of its own account and region.
type place struct {
	partition, account, region string
}

// Pattern is the EventBridge rule's pattern for the key ARNs: KMS's own events, and the CloudTrail
// records of the calls in EventNames, about those keys only. The two name the key in different places:
// KMS's own events in the top-level resources, a CloudTrail record (whose top-level resources is
// empty) in detail.resources[].ARN.
func Pattern(arns []string) map[string]any {
	return map[string]any{
		"source": []string{"aws.kms"},
		"$or": []any{
			map[string]any{"detail-type": []string{cloudTrailType},
				"detail": map[string]any{"eventName": EventNames, "resources": map[string]any{"ARN": arns}}},
			map[string]any{"detail-type": DetailTypes, "resources": arns},
		},
	}
}

// NewSetup writes the setup of key events for organisation orgID's AWS key links, delivering to
// endpoint with apiKey.
func NewSetup(orgID, endpoint, apiKey string, links []domain.KeyLink) Setup {
	var arns []string
	var places []place
	for _, l := range links {
		f := strings.SplitN(l.KeyARN, ":", 6)
		if len(f) != 6 {
			continue
		}
		if !slices.Contains(arns, l.KeyARN) {
			arns = append(arns, l.KeyARN)
		}
		if p := (place{f[1], f[4], f[3]}); !slices.Contains(places, p) {
			places = append(places, p)
		}
	}
	slices.Sort(arns)
	slices.SortFunc(places, func(a, b place) int { return strings.Compare(a.account+a.region, b.account+b.region) })
	pattern := Pattern(arns)
	patternJSON, _ := json.Marshal(pattern)
	g := gen{name: "cmekd-key-events-" + orgID, orgID: orgID, endpoint: endpoint, apiKey: apiKey, pattern: string(patternJSON), places: places}
	return Setup{EventPattern: pattern, CLI: g.cli(), Terraform: g.terraform(), CloudFormation: g.cloudFormation()}
}

type gen struct {
	name, orgID, endpoint, apiKey, pattern string
	places                                 []place
}

// accounts are the accounts of the places, in order.
func (g gen) accounts() []string {
	var out []string
	for _, p := range g.places {
		if !slices.Contains(out, p.account) {
			out = append(out, p.account)
		}
	}
	return out
}

const trustPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// invokePolicy lets EventBridge invoke the account's cmekd API destinations, in every region.
func (g gen) invokePolicy(part, account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"events:InvokeApiDestination","Resource":"arn:%s:events:*:%s:api-destination/%s/*"}]}`,
		part, account, g.name)
}

func (g gen) authParameters() string {
	return fmt.Sprintf(`{"ApiKeyAuthParameters":{"ApiKeyName":%q,"ApiKeyValue":%q}}`, APIKeyName, g.apiKey)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cli is a POSIX shell script of AWS CLI v2 calls that runs as printed.
func (g gen) cli() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# cmekd key events for organisation %s: EventBridge sends your keys' KMS events to\n# %s\n", g.orgID, g.endpoint)
	b.WriteString("# Run with the AWS CLI v2 as an administrator of each account below. It holds the api key.\nset -eu\n")
	for _, account := range g.accounts() {
		part := "aws"
		for _, p := range g.places {
			if p.account == account {
				part = p.partition
			}
		}
		fmt.Fprintf(&b, "\n# Account %s: the role EventBridge assumes to call cmekd.\n", account)
		fmt.Fprintf(&b, "ROLE_ARN=$(aws iam create-role --role-name %s --assume-role-policy-document %s --query Role.Arn --output text)\n",
			g.name, shellQuote(trustPolicy))
		fmt.Fprintf(&b, "aws iam put-role-policy --role-name %s --policy-name cmekd-invoke-api-destination --policy-document %s\n",
			g.name, shellQuote(g.invokePolicy(part, account)))
		for _, p := range g.places {
			if p.account != account {
				continue
			}
			r := p.region
			fmt.Fprintf(&b, "\n# %s: connection (api key), API destination, rule and target.\n", r)
			fmt.Fprintf(&b, "CONNECTION_ARN=$(aws events create-connection --region %s --name %s --authorization-type API_KEY --auth-parameters %s --query ConnectionArn --output text)\n",
				r, g.name, shellQuote(g.authParameters()))
			fmt.Fprintf(&b, "DESTINATION_ARN=$(aws events create-api-destination --region %s --name %s --connection-arn \"$CONNECTION_ARN\" --invocation-endpoint %s --http-method POST --invocation-rate-limit-per-second 10 --query ApiDestinationArn --output text)\n",
				r, g.name, shellQuote(g.endpoint))
			fmt.Fprintf(&b, "aws events put-rule --region %s --name %s --event-pattern %s --state ENABLED --output text\n",
				r, g.name, shellQuote(g.pattern))
			fmt.Fprintf(&b, "aws events put-targets --region %s --rule %s --targets \"Id=cmekd,Arn=$DESTINATION_ARN,RoleArn=$ROLE_ARN\" --output text\n", r, g.name)
		}
	}
	return b.String()
}

// label is a Terraform or CloudFormation name for a place.
func label(p place, multiAccount bool) string {
	l := strings.ReplaceAll(p.region, "-", "_")
	if multiAccount {
		l = "a" + p.account + "_" + l
	}
	return l
}

// terraform is the setup as a Terraform configuration of the AWS provider: one provider per place.
func (g gen) terraform() string {
	var b strings.Builder
	multi := len(g.accounts()) > 1
	fmt.Fprintf(&b, "# cmekd key events for organisation %s: EventBridge sends your keys' KMS events to cmekd.\n", g.orgID)
	b.WriteString("# It holds the api key: keep it (and the state) as you keep secrets.\n")
	for _, p := range g.places {
		fmt.Fprintf(&b, "\nprovider \"aws\" {\n  alias  = %q\n  region = %q\n", label(p, multi), p.region)
		if multi {
			fmt.Fprintf(&b, "  # credentials of account %s\n", p.account)
		}
		b.WriteString("}\n")
	}
	for i, account := range g.accounts() {
		var first place
		var dests []string
		for _, p := range g.places {
			if p.account == account {
				if first.region == "" {
					first = p
				}
				dests = append(dests, "aws_cloudwatch_event_api_destination.cmekd_"+label(p, multi)+".arn")
			}
		}
		role := "cmekd"
		if multi {
			role = fmt.Sprintf("cmekd_%d", i)
		}
		fmt.Fprintf(&b, `
resource "aws_iam_role" %q {
  provider           = aws.%s
  name               = %q
  assume_role_policy = %q
}

resource "aws_iam_role_policy" %q {
  provider = aws.%s
  name     = "cmekd-invoke-api-destination"
  role     = aws_iam_role.%s.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "events:InvokeApiDestination", Resource = [%s] }]
  })
}
`, role, label(first, multi), g.name, trustPolicy, role, label(first, multi), role, strings.Join(dests, ", "))
		for _, p := range g.places {
			if p.account != account {
				continue
			}
			l := label(p, multi)
			fmt.Fprintf(&b, `
resource "aws_cloudwatch_event_connection" "cmekd_%[1]s" {
  provider           = aws.%[1]s
  name               = %[2]q
  authorization_type = "API_KEY"
  auth_parameters {
    api_key {
      key   = %[3]q
      value = %[4]q
    }
  }
}

resource "aws_cloudwatch_event_api_destination" "cmekd_%[1]s" {
  provider                         = aws.%[1]s
  name                             = %[2]q
  invocation_endpoint              = %[5]q
  http_method                      = "POST"
  invocation_rate_limit_per_second = 10
  connection_arn                   = aws_cloudwatch_event_connection.cmekd_%[1]s.arn
}

resource "aws_cloudwatch_event_rule" "cmekd_%[1]s" {
  provider      = aws.%[1]s
  name          = %[2]q
  event_pattern = %[6]q
}

resource "aws_cloudwatch_event_target" "cmekd_%[1]s" {
  provider  = aws.%[1]s
  rule      = aws_cloudwatch_event_rule.cmekd_%[1]s.name
  target_id = "cmekd"
  arn       = aws_cloudwatch_event_api_destination.cmekd_%[1]s.arn
  role_arn  = aws_iam_role.%[7]s.arn
}
`, l, g.name, APIKeyName, g.apiKey, g.endpoint, g.pattern, role)
		}
	}
	return b.String()
}

// cloudFormation is the setup as a CloudFormation template (JSON), one stack per place: a stack is
// regional, so the template is deployed in each region of the organisation's keys.
func (g gen) cloudFormation() string {
	var regions []string
	for _, p := range g.places {
		regions = append(regions, p.account+"/"+p.region)
	}
	var pattern any
	_ = json.Unmarshal([]byte(g.pattern), &pattern)
	ref := func(name string) map[string]any { return map[string]any{"Ref": name} }
	getAtt := func(name, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []string{name, attr}} }
	sub := func(s string) map[string]any { return map[string]any{"Fn::Sub": s} }
	var trust any
	_ = json.Unmarshal([]byte(trustPolicy), &trust)
	tmpl := map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description": fmt.Sprintf("cmekd key events for organisation %s: deploy one stack in each of %s (account/region). "+
			"It holds the api key.", g.orgID, strings.Join(regions, ", ")),
		"Resources": map[string]any{
			"Connection": map[string]any{"Type": "AWS::Events::Connection", "Properties": map[string]any{
				"Name": g.name, "AuthorizationType": "API_KEY",
				"AuthParameters": map[string]any{"ApiKeyAuthParameters": map[string]any{"ApiKeyName": APIKeyName, "ApiKeyValue": g.apiKey}},
			}},
			"ApiDestination": map[string]any{"Type": "AWS::Events::ApiDestination", "Properties": map[string]any{
				"Name": g.name, "ConnectionArn": getAtt("Connection", "Arn"), "InvocationEndpoint": g.endpoint,
				"HttpMethod": "POST", "InvocationRateLimitPerSecond": 10,
			}},
			"Role": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
				"RoleName":                 sub(g.name + "-${AWS::Region}"),
				"AssumeRolePolicyDocument": trust,
				"Policies": []any{map[string]any{"PolicyName": "cmekd-invoke-api-destination", "PolicyDocument": map[string]any{
					"Version": "2012-10-17",
					"Statement": []any{map[string]any{"Effect": "Allow", "Action": "events:InvokeApiDestination",
						"Resource": getAtt("ApiDestination", "Arn")}},
				}}},
			}},
			"Rule": map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
				"Name": g.name, "EventPattern": pattern, "State": "ENABLED",
				"Targets": []any{map[string]any{"Id": "cmekd", "Arn": getAtt("ApiDestination", "Arn"), "RoleArn": getAtt("Role", "Arn")}},
			}},
		},
		"Outputs": map[string]any{"Rule": map[string]any{"Value": ref("Rule")}},
	}
	out, _ := json.MarshalIndent(tmpl, "", "  ")
	return string(out) + "\n"
}
