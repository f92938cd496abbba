package keyevents

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmekd/cmekd/internal/clock"
	"github.com/cmekd/cmekd/internal/domain"
	"github.com/cmekd/cmekd/internal/health"
)

const (
	dataARN   = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	backupARN = "arn:aws:kms:eu-west-1:444455556666:key/mrk-0123456789abcdef0123456789abcdef"
)

var links = []domain.KeyLink{
	{OrgID: "org_a", Region: "us-east-1", Purpose: domain.PurposeData, KeyARN: dataARN},
	{OrgID: "org_a", Region: "eu-west-1", Purpose: domain.PurposeBackup, KeyARN: backupARN},
}

func TestMatch_NamesLinkedKeysOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want []string // purposes matched, in link order
	}{
		{"resource ARN", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","resources":["` + dataARN + `"],"detail":{"eventName":"DisableKey"}}`, []string{"data"}},
		{"detail.resources ARN (a CloudTrail record: the top-level resources empty, keyId a grant's)", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","resources":[],"detail":{"eventName":"RetireGrant","requestParameters":{"grantToken":"t"},"resources":[{"accountId":"111122223333","type":"AWS::KMS::Key","ARN":"` + dataARN + `"}]}}`, []string{"data"}},
		{"keyId as ARN", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"DisableKey","requestParameters":{"keyId":"` + backupARN + `"}}}`, []string{"backup"}},
		{"bare key id in the event's account and region", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"us-east-1","detail":{"eventName":"DisableKey","requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}}`, []string{"data"}},
		{"bare key id of another region", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","account":"111122223333","region":"us-west-2","detail":{"eventName":"DisableKey","requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}}`, nil},
		{"bare key id of another account", `{"id":"1","source":"aws.kms","detail-type":"AWS API Call via CloudTrail","account":"999988887777","region":"us-east-1","detail":{"eventName":"DisableKey","requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}}`, nil},
		{"bare key id without account", `{"id":"1","source":"aws.kms","detail-type":"x","region":"us-east-1","detail":{"requestParameters":{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}}}`, nil},
		{"alias names nothing", `{"id":"1","source":"aws.kms","detail-type":"x","account":"111122223333","region":"us-east-1","detail":{"requestParameters":{"keyId":"alias/acme"}}}`, nil},
		{"deletion event's key-id", `{"id":"1","source":"aws.kms","detail-type":"KMS CMK Deletion","account":"444455556666","region":"eu-west-1","resources":[],"detail":{"key-id":"mrk-0123456789abcdef0123456789abcdef"}}`, []string{"backup"}},
		{"both keys", `{"id":"1","source":"aws.kms","detail-type":"x","resources":["` + backupARN + `","` + dataARN + `"]}`, []string{"data", "backup"}},
		{"other key", `{"id":"1","source":"aws.kms","detail-type":"x","resources":["arn:aws:kms:us-east-1:111122223333:key/other"]}`, nil},
		{"not a key ARN", `{"id":"1","source":"aws.kms","detail-type":"x","resources":["arn:aws:kms:us-east-1:111122223333:alias/acme"]}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range Match(ev, links) {
				got = append(got, l.Purpose)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("matched %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("matched %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestParse_RefusesWhatIsNotOneEvent(t *testing.T) {
	for _, body := range []string{``, `[]`, `"x"`, `{}`, `{"id":"1","source":"aws.kms"}`, `{"id":1,"source":"aws.kms","detail-type":"x"}`,
		`{"id":"1","source":"aws.kms","detail-type":"x","resources":"arn"}`, `{"id":"1","source":"aws.kms","detail-type":"x","detail":[]}`,
		`{"id":"a\u0000","source":"aws.kms","detail-type":"x"}`, "{\"id\":\"\xff\",\"source\":\"aws.kms\",\"detail-type\":\"x\"}",
		`{"id":"1","source":"aws.kms","detail-type":"x","detail":{"eventName":7}}`} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("Parse(%q) took it", body)
		}
	}
	ev, err := Parse([]byte(`{"id":"1","source":"aws.kms","detail-type":"KMS CMK Deletion","extra":{"x":1}}`))
	if err != nil || ev.Name != "KMS CMK Deletion" {
		t.Fatalf("Parse = %+v, %v", ev, err)
	}
}

// TestCoalescer_OneProbePerKeyPerInterval: hints arriving during a probe or its wait share the next
// one; none is dropped, and probes of one key begin at least `every` apart.
func TestCoalescer_OneProbePerKeyPerInterval(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	var running atomic.Int32
	release := make(chan struct{})
	c := newCoalescer(200*time.Millisecond, clock.Or(nil), func(ctx context.Context, k health.Key, arn string) {
		if running.Add(1) > 1 {
			t.Error("two probes of one key at once")
		}
		mu.Lock()
		starts = append(starts, time.Now())
		n := len(starts)
		mu.Unlock()
		if n == 1 {
			<-release
		}
		running.Add(-1)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.run(ctx) }()
	k := health.Key{OrgID: "org_a", Region: "us-east-1", Purpose: "data"}
	c.hint(k, dataARN)
	time.Sleep(20 * time.Millisecond)
	for range 50 { // during the first probe: they share one more
		c.hint(k, dataARN)
	}
	close(release)
	time.Sleep(600 * time.Millisecond)
	mu.Lock()
	if len(starts) != 2 || starts[1].Sub(starts[0]) < 200*time.Millisecond {
		t.Fatalf("probes began at %v, want two, 200ms apart at least", starts)
	}
	mu.Unlock()
	cancel()
	<-done
}
