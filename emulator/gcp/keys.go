package gcp

import (
	"context"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// kmsServer is the Cloud KMS v1 KeyManagementService; methods it does not embody answer
// UNIMPLEMENTED.
type kmsServer struct {
	kmspb.UnimplementedKeyManagementServiceServer
	e *Emulator
}

var (
	locationKinds = []kind{kindLocation}
	ringKinds     = []kind{kindKeyRing}
	keyKinds      = []kind{kindCryptoKey}
	versionKinds  = []kind{kindVersion}
)

func (s *kmsServer) CreateKeyRing(ctx context.Context, req *kmspb.CreateKeyRingRequest) (*kmspb.KeyRing, error) {
	return call(ctx, s.e, req.GetParent(), permRingCreate, locationKinds, func(p name) (*kmspb.KeyRing, error) {
		n, ok := p.child(req.GetKeyRingId())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid key_ring_id %q: it must match [a-zA-Z0-9_-]{1,63}.", req.GetKeyRingId())
		}
		if s.e.st.Rings[n.String()] != nil {
			return nil, status.Errorf(codes.AlreadyExists, "KeyRing %s already exists.", n)
		}
		r := &keyRing{Created: s.e.opts.Now()}
		s.e.st.Rings[n.String()] = r
		s.e.dirty = true
		return ringProto(n, r), nil
	})
}

func (s *kmsServer) GetKeyRing(ctx context.Context, req *kmspb.GetKeyRingRequest) (*kmspb.KeyRing, error) {
	return call(ctx, s.e, req.GetName(), permRingGet, ringKinds, func(n name) (*kmspb.KeyRing, error) {
		r, err := s.e.ring(n)
		if err != nil {
			return nil, err
		}
		return ringProto(n, r), nil
	})
}

func (s *kmsServer) ListKeyRings(ctx context.Context, req *kmspb.ListKeyRingsRequest) (*kmspb.ListKeyRingsResponse, error) {
	return call(ctx, s.e, req.GetParent(), permRingList, locationKinds, func(p name) (*kmspb.ListKeyRingsResponse, error) {
		all := childrenOf(s.e.st.Rings, p, "keyRings")
		names, next, err := page(all, req)
		out := &kmspb.ListKeyRingsResponse{NextPageToken: next, TotalSize: int32(len(all))}
		for _, rn := range names {
			n, _ := parseName(rn, kindKeyRing)
			out.KeyRings = append(out.KeyRings, ringProto(n, s.e.st.Rings[rn]))
		}
		return out, err
	})
}

func (s *kmsServer) CreateCryptoKey(ctx context.Context, req *kmspb.CreateCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	return call(ctx, s.e, req.GetParent(), permKeyCreate, ringKinds, func(p name) (*kmspb.CryptoKey, error) {
		if _, err := s.e.ring(p); err != nil {
			return nil, err
		}
		n, ok := p.child(req.GetCryptoKeyId())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid crypto_key_id %q: it must match [a-zA-Z0-9_-]{1,63}.", req.GetCryptoKeyId())
		}
		if s.e.st.Keys[n.String()] != nil {
			return nil, status.Errorf(codes.AlreadyExists, "CryptoKey %s already exists.", n)
		}
		k, err := newCryptoKey(req.GetCryptoKey(), s.e.opts.Now())
		if err != nil {
			return nil, err
		}
		if !req.GetSkipInitialVersionCreation() {
			if v := k.addVersion(k.Created); k.Purpose == kmspb.CryptoKey_ENCRYPT_DECRYPT {
				k.Primary = v
			}
		}
		s.e.st.Keys[n.String()] = k
		s.e.dirty = true
		return k.proto(n), nil
	})
}

func (s *kmsServer) GetCryptoKey(ctx context.Context, req *kmspb.GetCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	return withKey(ctx, s.e, req.GetName(), permKeyGet, func(n name, k *cryptoKey) (*kmspb.CryptoKey, error) {
		return k.proto(n), nil
	})
}

func (s *kmsServer) ListCryptoKeys(ctx context.Context, req *kmspb.ListCryptoKeysRequest) (*kmspb.ListCryptoKeysResponse, error) {
	return call(ctx, s.e, req.GetParent(), permKeyList, ringKinds, func(p name) (*kmspb.ListCryptoKeysResponse, error) {
		if _, err := s.e.ring(p); err != nil {
			return nil, err
		}
		all := childrenOf(s.e.st.Keys, p, "cryptoKeys")
		names, next, err := page(all, req)
		out := &kmspb.ListCryptoKeysResponse{NextPageToken: next, TotalSize: int32(len(all))}
		for _, kn := range names {
			n, _ := parseName(kn, kindCryptoKey)
			k, _ := s.e.key(n)
			out.CryptoKeys = append(out.CryptoKeys, k.proto(n))
		}
		return out, err
	})
}

func (s *kmsServer) UpdateCryptoKeyPrimaryVersion(ctx context.Context, req *kmspb.UpdateCryptoKeyPrimaryVersionRequest) (*kmspb.CryptoKey, error) {
	return withKey(ctx, s.e, req.GetName(), permKeyUpdate, func(n name, k *cryptoKey) (*kmspb.CryptoKey, error) {
		if k.Purpose != kmspb.CryptoKey_ENCRYPT_DECRYPT {
			return nil, status.Errorf(codes.FailedPrecondition, "CryptoKey %s has purpose %s; only ENCRYPT_DECRYPT keys have a primary version.", n, k.Purpose)
		}
		vn, ok := n.child(req.GetCryptoKeyVersionId())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "Invalid crypto_key_version_id %q.", req.GetCryptoKeyVersionId())
		}
		v, err := k.version(vn)
		if err != nil {
			return nil, err
		}
		if err := usable(vn, v); err != nil {
			return nil, err
		}
		k.Primary = vn.version
		s.e.dirty = true
		return k.proto(n), nil
	})
}

// newCryptoKey checks a CreateCryptoKey request's key and makes it, without versions.
func newCryptoKey(in *kmspb.CryptoKey, now time.Time) (*cryptoKey, error) {
	k := &cryptoKey{
		Created:         now,
		Purpose:         in.GetPurpose(),
		Algorithm:       in.GetVersionTemplate().GetAlgorithm(),
		Protection:      in.GetVersionTemplate().GetProtectionLevel(),
		Labels:          in.GetLabels(),
		DestroyDuration: defaultDestroyDuration,
	}
	if k.Protection == kmspb.ProtectionLevel_PROTECTION_LEVEL_UNSPECIFIED {
		k.Protection = kmspb.ProtectionLevel_SOFTWARE
	}
	if k.Algorithm == kmspb.CryptoKeyVersion_CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED && k.Purpose == kmspb.CryptoKey_ENCRYPT_DECRYPT {
		k.Algorithm = kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION
	}
	if d := in.GetDestroyScheduledDuration(); d != nil {
		k.DestroyDuration = d.AsDuration()
		if k.DestroyDuration < minDestroyDuration || k.DestroyDuration > maxDestroyDuration {
			return nil, status.Error(codes.InvalidArgument, "destroy_scheduled_duration must be between 24 hours and 120 days.")
		}
	}
	if err := checkPurpose(k); err != nil {
		return nil, err
	}
	return k, rotation(k, in)
}

// algorithmPrefixes are the algorithms (by their names' prefix) each purpose admits.
var algorithmPrefixes = map[kmspb.CryptoKey_CryptoKeyPurpose][]string{
	kmspb.CryptoKey_ENCRYPT_DECRYPT:     {"GOOGLE_SYMMETRIC_ENCRYPTION"},
	kmspb.CryptoKey_ASYMMETRIC_SIGN:     {"RSA_SIGN_", "EC_SIGN_", "PQ_SIGN_", "ML_DSA_", "SLH_DSA_"},
	kmspb.CryptoKey_ASYMMETRIC_DECRYPT:  {"RSA_DECRYPT_"},
	kmspb.CryptoKey_RAW_ENCRYPT_DECRYPT: {"AES_"},
	kmspb.CryptoKey_MAC:                 {"HMAC_"},
}

func checkPurpose(k *cryptoKey) error {
	prefixes, ok := algorithmPrefixes[k.Purpose]
	if !ok {
		return status.Errorf(codes.InvalidArgument, "crypto_key.purpose %s is not supported.", k.Purpose)
	}
	if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k.Algorithm.String(), p) }) {
		return status.Errorf(codes.InvalidArgument, "Algorithm %s is not compatible with purpose %s.", k.Algorithm, k.Purpose)
	}
	if k.Protection != kmspb.ProtectionLevel_SOFTWARE && k.Protection != kmspb.ProtectionLevel_HSM {
		return status.Errorf(codes.InvalidArgument, "Protection level %s is not supported by the emulator.", k.Protection)
	}
	return nil
}

// rotation takes a new key's automatic rotation schedule, which only symmetric keys have.
func rotation(k *cryptoKey, in *kmspb.CryptoKey) error {
	period, next := in.GetRotationPeriod(), in.GetNextRotationTime()
	if period == nil && next == nil {
		return nil
	}
	if k.Purpose != kmspb.CryptoKey_ENCRYPT_DECRYPT {
		return status.Errorf(codes.InvalidArgument, "Automatic rotation is only supported for keys with purpose ENCRYPT_DECRYPT, not %s.", k.Purpose)
	}
	if period == nil || next == nil || period.AsDuration() < minRotationPeriod {
		return status.Error(codes.InvalidArgument, "rotation_period (at least one day) and next_rotation_time must be set together.")
	}
	k.RotationPeriod, k.NextRotation = period.AsDuration(), next.AsTime()
	return nil
}
