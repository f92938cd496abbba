package gcp

import (
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cmekd/cmekd/internal/testing/testkit"
)

// The tests that need time to pass run below the gRPC layer, whose callers' tokens carry the real
// time, on a settable clock.

func TestScheduledDestruction_DestroysWhenDue(t *testing.T) {
	t.Parallel()
	c := testkit.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	e, err := New(Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	const key = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
	if err := e.CreateKey(key); err != nil {
		t.Fatal(err)
	}
	n, _ := parseName(key, kindCryptoKey)
	k, _ := e.key(n)
	v := k.Versions[0]
	v.State, v.DestroyTime = kmspb.CryptoKeyVersion_DESTROY_SCHEDULED, c.Now().Add(k.DestroyDuration)

	c.Advance(k.DestroyDuration - time.Second)
	if e.key(n); v.State != kmspb.CryptoKeyVersion_DESTROY_SCHEDULED {
		t.Fatalf("destroyed early: %s", v.State)
	}
	c.Advance(time.Second)
	if e.key(n); v.State != kmspb.CryptoKeyVersion_DESTROYED || v.Material != nil || !v.DestroyedAt.Equal(v.DestroyTime) {
		t.Fatalf("after the scheduled time: %s, material kept %v", v.State, v.Material != nil)
	}
}

func TestAutomaticRotation_MakesANewPrimaryWhenDue(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := testkit.NewClock(start)
	e, err := New(Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	k, err := newCryptoKey(&kmspb.CryptoKey{
		Purpose:          kmspb.CryptoKey_ENCRYPT_DECRYPT,
		RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(90 * 24 * time.Hour)},
		NextRotationTime: timestamppb.New(start.Add(24 * time.Hour)),
	}, start)
	if err != nil {
		t.Fatal(err)
	}
	k.Primary = k.addVersion(start)
	// Due on day 1 and (missed) on day 91: one new version, and the next time after now.
	c.Advance(100 * 24 * time.Hour)
	e.settle(k)
	if k.Primary != 2 || len(k.Versions) != 2 || !k.NextRotation.Equal(start.Add((1+90+90)*24*time.Hour)) {
		t.Fatalf("after rotation: primary %d of %d, next %s", k.Primary, len(k.Versions), k.NextRotation)
	}
	if _, err := newCryptoKey(&kmspb.CryptoKey{
		Purpose:          kmspb.CryptoKey_ENCRYPT_DECRYPT,
		RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(time.Hour)},
		NextRotationTime: timestamppb.New(start),
	}, start); err == nil {
		t.Fatal("a rotation period under a day was accepted")
	}
}
