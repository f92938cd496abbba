package gcp

import (
	"context"
	"crypto/rand"
	"slices"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Cloud KMS's predefined roles that the emulator knows.
const (
	roleAdmin            = "roles/cloudkms.admin"
	roleEncrypterDecrypt = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	roleEncrypter        = "roles/cloudkms.cryptoKeyEncrypter"
	roleDecrypter        = "roles/cloudkms.cryptoKeyDecrypter"
	roleViewer           = "roles/cloudkms.viewer"
)

// Permissions, as Cloud KMS names them.
const (
	permRingCreate     = "cloudkms.keyRings.create"
	permRingGet        = "cloudkms.keyRings.get"
	permRingList       = "cloudkms.keyRings.list"
	permRingGetPolicy  = "cloudkms.keyRings.getIamPolicy"
	permRingSetPolicy  = "cloudkms.keyRings.setIamPolicy"
	permKeyCreate      = "cloudkms.cryptoKeys.create"
	permKeyGet         = "cloudkms.cryptoKeys.get"
	permKeyList        = "cloudkms.cryptoKeys.list"
	permKeyUpdate      = "cloudkms.cryptoKeys.update"
	permKeyGetPolicy   = "cloudkms.cryptoKeys.getIamPolicy"
	permKeySetPolicy   = "cloudkms.cryptoKeys.setIamPolicy"
	permVersionCreate  = "cloudkms.cryptoKeyVersions.create"
	permVersionGet     = "cloudkms.cryptoKeyVersions.get"
	permVersionList    = "cloudkms.cryptoKeyVersions.list"
	permVersionUpdate  = "cloudkms.cryptoKeyVersions.update"
	permVersionDestroy = "cloudkms.cryptoKeyVersions.destroy"
	permVersionRestore = "cloudkms.cryptoKeyVersions.restore"
	permEncrypt        = "cloudkms.cryptoKeyVersions.useToEncrypt"
	permDecrypt        = "cloudkms.cryptoKeyVersions.useToDecrypt"
	permLocationGet    = "cloudkms.locations.get"
	permLocationList   = "cloudkms.locations.list"
	permProjectGet     = "resourcemanager.projects.get"
)

var common = []string{permLocationGet, permLocationList, permProjectGet}

// roles are the permissions of each role (those of the operations the emulator serves).
var roles = map[string][]string{
	roleAdmin: append([]string{
		permRingCreate, permRingGet, permRingList, permRingGetPolicy, permRingSetPolicy,
		permKeyCreate, permKeyGet, permKeyList, permKeyUpdate, permKeyGetPolicy, permKeySetPolicy,
		permVersionCreate, permVersionGet, permVersionList, permVersionUpdate, permVersionDestroy, permVersionRestore,
	}, common...),
	roleEncrypterDecrypt: append([]string{permEncrypt, permDecrypt}, common...),
	roleEncrypter:        append([]string{permEncrypt}, common...),
	roleDecrypter:        append([]string{permDecrypt}, common...),
	roleViewer: append([]string{
		permRingGet, permRingList, permKeyGet, permKeyList, permVersionGet, permVersionList,
	}, common...),
}

// memberKinds are the prefixes IAM accepts for members.
var memberKinds = []string{"serviceAccount:", "user:", "group:", "domain:", "principal:", "principalSet:", "deleted:"}

// call is every handler's prelude: parse the resource name (one of kinds), authorise the caller
// for perm on it, run fn with the state locked, then report any change.
func call[T any](ctx context.Context, e *Emulator, raw, perm string, kinds []kind, fn func(name) (T, error)) (T, error) {
	var zero T
	n, err := parseName(raw, kinds...)
	if err != nil {
		return zero, err
	}
	email, _ := ctx.Value(callerKey{}).(string)
	e.mu.Lock()
	out, err := zero, denied(perm, raw)
	if e.allowed(email, n, perm) {
		out, err = fn(n)
	}
	e.mu.Unlock()
	e.changed()
	return out, err
}

func denied(perm, resource string) error {
	return status.Errorf(codes.PermissionDenied, "Permission '%s' denied on resource '%s' (or it may not exist).", perm, resource)
}

// allowed reports whether a binding on n, or on a resource above it, gives email perm.
func (e *Emulator) allowed(email string, n name, perm string) bool {
	for k := n.kind; k >= kindProject; k-- {
		p := e.st.Policies[n.at(k).String()]
		if p == nil {
			continue
		}
		for role, members := range p.Bindings {
			if slices.Contains(roles[role], perm) && (slices.Contains(members, member(email)) || slices.Contains(members, "allAuthenticatedUsers") || slices.Contains(members, "allUsers")) {
				return true
			}
		}
	}
	return false
}

// grant adds a binding of role for m on resource.
func (e *Emulator) grant(resource, m, role string) {
	p := e.policy(resource)
	if slices.Contains(p.Bindings[role], m) {
		return
	}
	p.Bindings[role] = append(p.Bindings[role], m)
	p.Etag = newEtag()
	e.dirty = true
}

// policy is resource's policy, created empty on first use.
func (e *Emulator) policy(resource string) *policy {
	p := e.st.Policies[resource]
	if p == nil {
		p = &policy{Etag: newEtag(), Bindings: map[string][]string{}}
		e.st.Policies[resource] = p
	}
	return p
}

func newEtag() []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return b
}

// GrantProject gives member (e.g. "serviceAccount:a@p.iam.gserviceaccount.com") role on project,
// without IAM: project policies belong to Resource Manager, which the emulator does not serve.
func (e *Emulator) GrantProject(project, member, role string) error {
	if err := checkBinding(role, []string{member}); err != nil {
		return err
	}
	if !projectID.MatchString(project) {
		return status.Errorf(codes.InvalidArgument, "%q is not a project id", project)
	}
	e.mu.Lock()
	e.grant(name{kind: kindProject, project: project}.String(), member, role)
	e.mu.Unlock()
	e.changed()
	return nil
}

func checkBinding(role string, members []string) error {
	if _, ok := roles[role]; !ok {
		return status.Errorf(codes.InvalidArgument, "Role %s is not supported for this resource.", role)
	}
	for _, m := range members {
		ok := m == "allUsers" || m == "allAuthenticatedUsers"
		for _, k := range memberKinds {
			ok = ok || strings.HasPrefix(m, k) && len(m) > len(k)
		}
		if !ok {
			return status.Errorf(codes.InvalidArgument, "Invalid member: %s", m)
		}
	}
	return nil
}

// iamServer is the IAM mixin (google.iam.v1.IAMPolicy) on key rings and CryptoKeys.
type iamServer struct {
	iampb.UnimplementedIAMPolicyServer
	e *Emulator
}

var policyKinds = []kind{kindKeyRing, kindCryptoKey}

// policyPerm is the permission verb (getIamPolicy, setIamPolicy) on resource's collection.
func policyPerm(resource, verb string) string {
	if strings.Count(resource, "/") == 5 {
		return "cloudkms.keyRings." + verb
	}
	return "cloudkms.cryptoKeys." + verb
}

func (s *iamServer) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	return call(ctx, s.e, req.GetResource(), policyPerm(req.GetResource(), "getIamPolicy"), policyKinds, func(n name) (*iampb.Policy, error) {
		if err := s.e.exists(n); err != nil {
			return nil, err
		}
		return s.e.policy(n.String()).proto(), nil
	})
}

func (s *iamServer) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	return call(ctx, s.e, req.GetResource(), policyPerm(req.GetResource(), "setIamPolicy"), policyKinds, func(n name) (*iampb.Policy, error) {
		if err := s.e.exists(n); err != nil {
			return nil, err
		}
		cur := s.e.policy(n.String())
		in := req.GetPolicy()
		if len(in.GetEtag()) > 0 && string(in.GetEtag()) != string(cur.Etag) {
			return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
		}
		next := &policy{Etag: newEtag(), Bindings: map[string][]string{}}
		for _, b := range in.GetBindings() {
			if b.GetCondition() != nil {
				return nil, status.Error(codes.InvalidArgument, "Conditions are not supported by the emulator's IAM.")
			}
			if err := checkBinding(b.GetRole(), b.GetMembers()); err != nil {
				return nil, err
			}
			for _, m := range b.GetMembers() {
				if !slices.Contains(next.Bindings[b.GetRole()], m) {
					next.Bindings[b.GetRole()] = append(next.Bindings[b.GetRole()], m)
				}
			}
		}
		s.e.st.Policies[n.String()] = next
		s.e.dirty = true
		return next.proto(), nil
	})
}

// TestIamPermissions needs no permission: it answers which of those asked the caller holds.
func (s *iamServer) TestIamPermissions(ctx context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	email, _ := ctx.Value(callerKey{}).(string)
	n, err := parseName(req.GetResource(), policyKinds...)
	if err != nil {
		return nil, err
	}
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	out := &iampb.TestIamPermissionsResponse{}
	for _, p := range req.GetPermissions() {
		if strings.ContainsAny(p, "*") {
			return nil, status.Errorf(codes.InvalidArgument, "Permission %s is not valid.", p)
		}
		if s.e.allowed(email, n, p) {
			out.Permissions = append(out.Permissions, p)
		}
	}
	return out, nil
}

func (p *policy) proto() *iampb.Policy {
	out := &iampb.Policy{Version: 1, Etag: p.Etag}
	rs := make([]string, 0, len(p.Bindings))
	for r := range p.Bindings {
		rs = append(rs, r)
	}
	slices.Sort(rs)
	for _, r := range rs {
		if len(p.Bindings[r]) > 0 {
			out.Bindings = append(out.Bindings, &iampb.Binding{Role: r, Members: slices.Clone(p.Bindings[r])})
		}
	}
	return out
}
