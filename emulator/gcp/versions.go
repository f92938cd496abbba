package gcp

import (
	"context"
	"slices"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (s *kmsServer) CreateCryptoKeyVersion(ctx context.Context, req *kmspb.CreateCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	return withKey(ctx, s.e, req.GetParent(), permVersionCreate, func(n name, k *cryptoKey) (*kmspb.CryptoKeyVersion, error) {
		// Creating a version never makes it primary: that is UpdateCryptoKeyPrimaryVersion's
		// (gcloud's "versions create --primary" makes both calls).
		n.kind, n.version = kindVersion, k.addVersion(s.e.opts.Now())
		s.e.dirty = true
		return k.versionProto(n), nil
	})
}

func (s *kmsServer) GetCryptoKeyVersion(ctx context.Context, req *kmspb.GetCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	return withVersion(ctx, s.e, req.GetName(), permVersionGet, func(n name, k *cryptoKey, _ *keyVersion) (*kmspb.CryptoKeyVersion, error) {
		return k.versionProto(n), nil
	})
}

func (s *kmsServer) ListCryptoKeyVersions(ctx context.Context, req *kmspb.ListCryptoKeyVersionsRequest) (*kmspb.ListCryptoKeyVersionsResponse, error) {
	return withKey(ctx, s.e, req.GetParent(), permVersionList, func(n name, k *cryptoKey) (*kmspb.ListCryptoKeyVersionsResponse, error) {
		ids := make([]int64, len(k.Versions))
		for i := range ids {
			ids[i] = int64(i + 1)
		}
		got, next, err := page(ids, req)
		out := &kmspb.ListCryptoKeyVersionsResponse{NextPageToken: next, TotalSize: int32(len(ids))}
		for _, id := range got {
			n.kind, n.version = kindVersion, id
			out.CryptoKeyVersions = append(out.CryptoKeyVersions, k.versionProto(n))
		}
		return out, err
	})
}

// UpdateCryptoKeyVersion moves a version between ENABLED and DISABLED, the one field it updates.
func (s *kmsServer) UpdateCryptoKeyVersion(ctx context.Context, req *kmspb.UpdateCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	in := req.GetCryptoKeyVersion()
	return withVersion(ctx, s.e, in.GetName(), permVersionUpdate, func(n name, k *cryptoKey, v *keyVersion) (*kmspb.CryptoKeyVersion, error) {
		if !slices.Equal(req.GetUpdateMask().GetPaths(), []string{"state"}) {
			return nil, status.Error(codes.InvalidArgument, "update_mask must be exactly [state]: the emulator updates no other field of a CryptoKeyVersion.")
		}
		if want := in.GetState(); want != kmspb.CryptoKeyVersion_ENABLED && want != kmspb.CryptoKeyVersion_DISABLED {
			return nil, status.Errorf(codes.InvalidArgument, "crypto_key_version.state can only be set to ENABLED or DISABLED, not %s.", want)
		}
		if err := inState(n, v, kmspb.CryptoKeyVersion_ENABLED, kmspb.CryptoKeyVersion_DISABLED); err != nil {
			return nil, err
		}
		v.State = in.GetState()
		s.e.dirty = true
		return k.versionProto(n), nil
	})
}

// DestroyCryptoKeyVersion schedules a version's destruction after its key's
// destroy_scheduled_duration; until then RestoreCryptoKeyVersion brings it back, disabled.
func (s *kmsServer) DestroyCryptoKeyVersion(ctx context.Context, req *kmspb.DestroyCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	return withVersion(ctx, s.e, req.GetName(), permVersionDestroy, func(n name, k *cryptoKey, v *keyVersion) (*kmspb.CryptoKeyVersion, error) {
		if err := inState(n, v, kmspb.CryptoKeyVersion_ENABLED, kmspb.CryptoKeyVersion_DISABLED); err != nil {
			return nil, err
		}
		v.State, v.DestroyTime = kmspb.CryptoKeyVersion_DESTROY_SCHEDULED, s.e.opts.Now().Add(k.DestroyDuration)
		s.e.dirty = true
		return k.versionProto(n), nil
	})
}

func (s *kmsServer) RestoreCryptoKeyVersion(ctx context.Context, req *kmspb.RestoreCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	return withVersion(ctx, s.e, req.GetName(), permVersionRestore, func(n name, k *cryptoKey, v *keyVersion) (*kmspb.CryptoKeyVersion, error) {
		if err := inState(n, v, kmspb.CryptoKeyVersion_DESTROY_SCHEDULED); err != nil {
			return nil, err
		}
		v.State, v.DestroyTime = kmspb.CryptoKeyVersion_DISABLED, time.Time{}
		s.e.dirty = true
		return k.versionProto(n), nil
	})
}

// withKey is call for a method on one CryptoKey: fn gets it.
func withKey[T any](ctx context.Context, e *Emulator, raw, perm string, fn func(name, *cryptoKey) (T, error)) (T, error) {
	return onKey(ctx, e, raw, perm, keyKinds, fn)
}

// withVersion is call for a method on one CryptoKeyVersion: fn gets it and its key.
func withVersion[T any](ctx context.Context, e *Emulator, raw, perm string, fn func(name, *cryptoKey, *keyVersion) (T, error)) (T, error) {
	return onKey(ctx, e, raw, perm, versionKinds, func(n name, k *cryptoKey) (T, error) {
		v, err := k.version(n)
		if err != nil {
			var zero T
			return zero, err
		}
		return fn(n, k, v)
	})
}

// onKey is call on a name of kinds, fn getting the key it names (or its version's key).
func onKey[T any](ctx context.Context, e *Emulator, raw, perm string, kinds []kind, fn func(name, *cryptoKey) (T, error)) (T, error) {
	return call(ctx, e, raw, perm, kinds, func(n name) (T, error) {
		k, err := e.key(n)
		if err != nil {
			var zero T
			return zero, err
		}
		return fn(n, k)
	})
}

// inState checks that version n is in one of states, as the state-changing methods require.
func inState(n name, v *keyVersion, states ...kmspb.CryptoKeyVersion_CryptoKeyVersionState) error {
	if slices.Contains(states, v.State) {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "The request cannot be fulfilled. Resource %s has value %s in field crypto_key_version.state.", n, v.State)
}

// usable checks that version n can be used (to encrypt, decrypt, or become primary).
func usable(n name, v *keyVersion) error {
	if v.State == kmspb.CryptoKeyVersion_ENABLED {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "%s is not enabled, current state is: %s.", n, v.State)
}
