package tfprovider

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// asJSON is a request's arguments as the client sends them, for comparison.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPolicyRequests_AskWhatEachProviderAnswers(t *testing.T) {
	t.Parallel()
	const gcpKey = "projects/acme/locations/us-central1/keyRings/ring/cryptoKeys/data"
	const azureKey = "https://acme-vault.vault.azure.net/keys/data"
	const awsKey = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	null := types.StringNull()
	principals := types.ListValueMust(types.StringType, []attr.Value{types.StringValue("111122223333")})
	for _, c := range []struct {
		name string
		m    keyPolicyModel
		want []string // attribute=params as JSON
	}{
		{"aws by key_arn, as before", keyPolicyModel{keyArgs: keyArgs{KeyProvider: null, KeyID: null, KeyARN: types.StringValue(awsKey)}, Template: null, AdditionalPrincipals: types.ListNull(types.StringType)},
			[]string{`json={"key_arn":"` + awsKey + `","template":"full"}`}},
		{"aws by key_id, a statement with more principals", keyPolicyModel{keyArgs: keyArgs{KeyProvider: types.StringValue("aws"), KeyID: types.StringValue(awsKey), KeyARN: null},
			Template: types.StringValue("statement"), AdditionalPrincipals: principals},
			[]string{`json={"provider":"aws","key_id":"` + awsKey + `","template":"statement","additional_principal":["111122223333"]}`}},
		{"gcp: the access in every format, no template", keyPolicyModel{keyArgs: keyArgs{KeyProvider: types.StringValue("gcp"), KeyID: types.StringValue(gcpKey), KeyARN: null}, Template: null, AdditionalPrincipals: types.ListNull(types.StringType)},
			[]string{
				`json={"provider":"gcp","key_id":"` + gcpKey + `","format":"json"}`,
				`terraform={"provider":"gcp","key_id":"` + gcpKey + `","format":"terraform"}`,
				`cli={"provider":"gcp","key_id":"` + gcpKey + `","format":"cli"}`,
			}},
		{"azure with a key_arn: sent, for cmekd to refuse", keyPolicyModel{keyArgs: keyArgs{KeyProvider: types.StringValue("azure"), KeyID: null, KeyARN: types.StringValue(azureKey)}, Template: null, AdditionalPrincipals: types.ListNull(types.StringType)},
			[]string{
				`json={"provider":"azure","key_arn":"` + azureKey + `","format":"json"}`,
				`terraform={"provider":"azure","key_arn":"` + azureKey + `","format":"terraform"}`,
				`cli={"provider":"azure","key_arn":"` + azureKey + `","format":"cli"}`,
			}},
	} {
		got, diags := policyRequests(t.Context(), c.m)
		if diags.HasError() {
			t.Fatalf("%s: %v", c.name, diags)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d requests, want %d", c.name, len(got), len(c.want))
			continue
		}
		for i, r := range got {
			if s := r.attr + "=" + asJSON(t, r.params); s != c.want[i] {
				t.Errorf("%s: request %d\n got %s\nwant %s", c.name, i, s, c.want[i])
			}
		}
	}
}

func TestCheckRequest_PassesProviderKeyAndRegion(t *testing.T) {
	t.Parallel()
	const azureKey = "https://acme-vault.vault.azure.net/keys/data"
	null := types.StringNull()
	for _, c := range []struct {
		m    keyCheckModel
		want string
	}{
		{keyCheckModel{keyArgs: keyArgs{KeyProvider: null, KeyID: null, KeyARN: types.StringValue("arn:aws:kms:us-west-2:111122223333:key/k")}, Region: types.StringValue("us-west-2")},
			`{"key_arn":"arn:aws:kms:us-west-2:111122223333:key/k","region":"us-west-2"}`},
		{keyCheckModel{keyArgs: keyArgs{KeyProvider: types.StringValue("azure"), KeyID: types.StringValue(azureKey), KeyARN: null}, Region: types.StringValue("eastus")},
			`{"key_id":"` + azureKey + `","provider":"azure","region":"eastus"}`},
		{keyCheckModel{keyArgs: keyArgs{KeyProvider: types.StringValue("gcp"), KeyID: types.StringValue("projects/p/locations/l/keyRings/r/cryptoKeys/k"), KeyARN: null}, Region: null},
			`{"key_id":"projects/p/locations/l/keyRings/r/cryptoKeys/k","provider":"gcp"}`},
	} {
		if got := asJSON(t, checkRequest(c.m)); got != c.want {
			t.Errorf("checkRequest\n got %s\nwant %s", got, c.want)
		}
	}
}

func TestSynonyms_PlanBothNamesOfAnAWSKey(t *testing.T) {
	t.Parallel()
	s, null, unknown := types.StringValue, types.StringNull(), types.StringUnknown()
	for _, c := range []struct {
		name              string
		provider, id, arn types.String
		wantID, wantARN   types.String
	}{
		{"aws key_arn alone (existing configurations)", s("aws"), null, s("A"), s("A"), s("A")},
		{"aws key_id alone", s("aws"), s("A"), null, s("A"), s("A")},
		{"both given: kept, for cmekd to compare", s("aws"), s("A"), s("B"), s("A"), s("B")},
		{"gcp key_id: no ARN", s("gcp"), s("G"), null, s("G"), null},
		{"no key: provider_managed", s("aws"), null, null, null, null},
		{"key not known yet", s("aws"), null, unknown, unknown, unknown},
		{"provider not known yet", unknown, s("A"), null, s("A"), unknown},
	} {
		id, arn := synonyms(c.provider, c.id, c.arn)
		if !id.Equal(c.wantID) || !arn.Equal(c.wantARN) {
			t.Errorf("%s: synonyms = %v, %v; want %v, %v", c.name, id, arn, c.wantID, c.wantARN)
		}
	}
}

func TestPlanRegionKeys_PlansBothNamesOfAnyProvidersKey(t *testing.T) {
	t.Parallel()
	const awsKey = "arn:aws:kms:us-west-2:111122223333:key/mrk-1"
	const gcpKey = "projects/acme/locations/us-east1/keyRings/ring/cryptoKeys/data"
	s, null, unknown := types.StringValue, types.StringNull(), types.StringUnknown()
	for _, c := range []struct {
		name                                   string
		id, arn, backupID, backupARN, planned  types.String // planned: what the framework planned for key_id and key_arn
		wantID, wantARN, wantBackID, wantBackA types.String
	}{
		{"aws key_arn alone (existing configurations)", null, s(awsKey), null, null, unknown, s(awsKey), s(awsKey), null, null},
		{"aws key_id alone, with a backup by key_id", s(awsKey), null, s(awsKey), null, unknown, s(awsKey), s(awsKey), s(awsKey), s(awsKey)},
		{"gcp key_id: no ARN", s(gcpKey), null, s(gcpKey), null, unknown, s(gcpKey), null, s(gcpKey), null},
		{"gcp key_arn: sent, for cmekd to refuse", null, s(gcpKey), null, null, unknown, s(gcpKey), s(gcpKey), null, null},
		{"no key: the replica, known after apply", null, null, null, null, unknown, unknown, unknown, null, null},
		{"no key: the replica in state", null, null, null, null, s(awsKey), s(awsKey), s(awsKey), null, null},
		{"key not known yet", unknown, null, null, null, unknown, unknown, unknown, null, null},
	} {
		config := regionModel{keyLink: keyLink{KeyID: c.id, KeyARN: c.arn, BackupKeyID: c.backupID, BackupKeyARN: c.backupARN}}
		planned := regionModel{keyLink: keyLink{KeyID: c.planned, KeyARN: c.planned, BackupKeyID: unknown, BackupKeyARN: unknown}}
		planRegionKeys(&config, &planned)
		got := []types.String{planned.KeyID, planned.KeyARN, planned.BackupKeyID, planned.BackupKeyARN}
		for i, want := range []types.String{c.wantID, c.wantARN, c.wantBackID, c.wantBackA} {
			if !got[i].Equal(want) {
				t.Errorf("%s: planned key_id, key_arn, backup_key_id, backup_key_arn = %v; want %v, %v, %v, %v",
					c.name, got, c.wantID, c.wantARN, c.wantBackID, c.wantBackA)
				break
			}
		}
	}
}
