package gcp

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Cloud KMS's defaults and bounds.
const (
	defaultDestroyDuration = 30 * 24 * time.Hour
	minDestroyDuration     = 24 * time.Hour
	maxDestroyDuration     = 120 * 24 * time.Hour
	minRotationPeriod      = 24 * time.Hour
	maxPageSize            = 1000
)

// ring is the key ring n names (n may name something below it).
func (e *Emulator) ring(n name) (*keyRing, error) {
	rn := n.at(kindKeyRing).String()
	if r := e.st.Rings[rn]; r != nil {
		return r, nil
	}
	return nil, status.Errorf(codes.NotFound, "KeyRing %s not found.", rn)
}

// key is the CryptoKey n names (n may name one of its versions), brought up to date with the
// clock: versions whose destruction is due are destroyed, a due rotation is made.
func (e *Emulator) key(n name) (*cryptoKey, error) {
	kn := n.at(kindCryptoKey).String()
	k := e.st.Keys[kn]
	if k == nil {
		return nil, status.Errorf(codes.NotFound, "CryptoKey %s not found.", kn)
	}
	e.settle(k)
	return k, nil
}

// exists checks that the key ring or CryptoKey n names exists.
func (e *Emulator) exists(n name) error {
	if n.kind == kindKeyRing {
		_, err := e.ring(n)
		return err
	}
	_, err := e.key(n)
	return err
}

func (e *Emulator) settle(k *cryptoKey) {
	now := e.opts.Now()
	for _, v := range k.Versions {
		if v.State == kmspb.CryptoKeyVersion_DESTROY_SCHEDULED && !now.Before(v.DestroyTime) {
			v.State, v.DestroyedAt, v.Material = kmspb.CryptoKeyVersion_DESTROYED, v.DestroyTime, nil
			e.dirty = true
		}
	}
	if k.RotationPeriod > 0 && !k.NextRotation.IsZero() && !now.Before(k.NextRotation) {
		k.Primary = k.addVersion(now)
		for !now.Before(k.NextRotation) {
			k.NextRotation = k.NextRotation.Add(k.RotationPeriod)
		}
		e.dirty = true
	}
}

// version is the version n names.
func (k *cryptoKey) version(n name) (*keyVersion, error) {
	if n.version < 1 || n.version > int64(len(k.Versions)) {
		return nil, status.Errorf(codes.NotFound, "CryptoKeyVersion %s not found.", n)
	}
	return k.Versions[n.version-1], nil
}

// addVersion makes a new enabled version, with key material when the key is symmetric, and
// returns its id.
func (k *cryptoKey) addVersion(now time.Time) int64 {
	v := &keyVersion{State: kmspb.CryptoKeyVersion_ENABLED, Created: now}
	if k.Purpose == kmspb.CryptoKey_ENCRYPT_DECRYPT {
		v.Material = make([]byte, 32)
		_, _ = rand.Read(v.Material)
	}
	k.Versions = append(k.Versions, v)
	return int64(len(k.Versions))
}

func ringProto(n name, r *keyRing) *kmspb.KeyRing {
	return &kmspb.KeyRing{Name: n.String(), CreateTime: timestamppb.New(r.Created)}
}

func (k *cryptoKey) proto(n name) *kmspb.CryptoKey {
	n = n.at(kindCryptoKey)
	out := &kmspb.CryptoKey{
		Name:                     n.String(),
		Purpose:                  k.Purpose,
		CreateTime:               timestamppb.New(k.Created),
		VersionTemplate:          &kmspb.CryptoKeyVersionTemplate{ProtectionLevel: k.Protection, Algorithm: k.Algorithm},
		Labels:                   k.Labels,
		DestroyScheduledDuration: durationpb.New(k.DestroyDuration),
	}
	if k.Primary > 0 {
		out.Primary = k.versionProto(name{kind: kindVersion, project: n.project, location: n.location, ring: n.ring, key: n.key, version: k.Primary})
	}
	if k.RotationPeriod > 0 {
		out.RotationSchedule = &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(k.RotationPeriod)}
		out.NextRotationTime = timestamppb.New(k.NextRotation)
	}
	return out
}

// versionProto is version n of k (n names an existing version).
func (k *cryptoKey) versionProto(n name) *kmspb.CryptoKeyVersion {
	v := k.Versions[n.version-1]
	out := &kmspb.CryptoKeyVersion{
		Name:            n.String(),
		State:           v.State,
		ProtectionLevel: k.Protection,
		Algorithm:       k.Algorithm,
		CreateTime:      timestamppb.New(v.Created),
		GenerateTime:    timestamppb.New(v.Created),
	}
	if !v.DestroyTime.IsZero() {
		out.DestroyTime = timestamppb.New(v.DestroyTime)
	}
	if !v.DestroyedAt.IsZero() {
		out.DestroyEventTime = timestamppb.New(v.DestroyedAt)
	}
	return out
}

// listing is what the List methods share: paging and the filters the emulator does not model.
type listing interface {
	GetPageSize() int32
	GetPageToken() string
	GetFilter() string
	GetOrderBy() string
}

// page is one page of all (in order) for req, and the token of the next.
func page[T any](all []T, req listing) ([]T, string, error) {
	if req.GetFilter() != "" || req.GetOrderBy() != "" {
		return nil, "", status.Error(codes.Unimplemented, "The emulator does not support filter or order_by.")
	}
	start := 0
	if t := req.GetPageToken(); t != "" {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		start, _ = strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || !strings.HasPrefix(string(raw), "offset:") || start <= 0 || start > len(all) {
			return nil, "", status.Error(codes.InvalidArgument, "Invalid page token.")
		}
	}
	size := int(req.GetPageSize())
	if size <= 0 || size > maxPageSize {
		size = maxPageSize
	}
	end := min(start+size, len(all))
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}
	return all[start:end], next, nil
}

// childrenOf are the names, in order, of the entries of m directly under parent.
func childrenOf[V any](m map[string]V, parent name, collection string) []string {
	prefix := parent.String() + "/" + collection + "/"
	var out []string
	for n := range m {
		if rest, ok := strings.CutPrefix(n, prefix); ok && !strings.Contains(rest, "/") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
