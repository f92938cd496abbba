// Package awsemu is an AWS KMS that speaks the AWS JSON 1.1 protocol
// (POST /, X-Amz-Target: TrentService.<Op>) well enough for aws-sdk-go-v2,
// the AWS CLI and Terraform's AWS provider: per-region keys, aliases, tags,
// multi-region replicas, grants, enforced key policies and real AES-256-GCM.
// Its state is in memory, or kept in a file across restarts (Options.StateFile).
package awsemu

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure an Emulator.
type Options struct {
	Account    string            // account for key ARNs; default "111122223333"
	Principals map[string]string // SigV4 access key id -> principal ARN; unmapped = arn:aws:iam::<Account>:root
	Logger     *slog.Logger      // one line per request: operation, key, outcome; nil = discard
	Now        func() time.Time  // nil = time.Now
	// ReplicaDelay is how long a new multi-region replica stays Creating before it is Enabled, as
	// on AWS. Zero makes replicas Enabled at once, which tests that do not study the wait need;
	// the kms-emulator binary and dev mode use DefaultReplicaDelay.
	ReplicaDelay time.Duration
	// StateFile, when set, keeps keys, policies, grants, aliases and tags across restarts: Open
	// loads it and every change rewrites it atomically. Only Open accepts it.
	StateFile string
	// EventDelay delays every EventBridge delivery to an API destination (the -event-delay flag).
	EventDelay time.Duration
	// Companions are the other clouds' emulators whose states StateFile keeps too, by name; Open
	// restores them, and each calls Save when its state changes.
	Companions map[string]Companion
}

// DefaultAccount is the account that owns the keys when Options.Account is empty.
const DefaultAccount = "111122223333"

// DefaultReplicaDelay is the -replica-delay of the kms-emulator binary: long enough that a
// client must wait for a replica, as it must on AWS, short enough for a test.
const DefaultReplicaDelay = 2 * time.Second

// maxBody bounds a request body; the largest legal KMS request is far smaller.
const maxBody = 1 << 20

// Emulator is an in-memory AWS KMS; it implements http.Handler.
type Emulator struct {
	account    string
	principals map[string]string
	log        *slog.Logger
	now        func() time.Time

	replicaDelay time.Duration
	stateFile    string
	companions   map[string]Companion

	mu          sync.Mutex
	regions     map[string]*region
	grants      map[string]*grant   // by grant id, across regions
	tokenSecret []byte              // signs grant tokens, so that a forged one is recognised
	seq         uint64              // creation order of keys and grants, for stable listing
	regionAdded bool                // a region (and its AWS-managed key) appeared since the last save
	events      *eventsState        // EventBridge rules, targets, connections and API destinations
	roles       map[string]*iamRole // IAM roles, by name
	eventDelay  time.Duration
}

// New returns an empty in-memory emulator; each region gets its AWS-managed
// key on first use. It panics if opts.StateFile is set: use Open, which can
// report a bad file.
func New(opts Options) *Emulator {
	if opts.StateFile != "" {
		panic("emulator: New with a StateFile; use Open")
	}
	return newEmulator(opts)
}

// Open returns an emulator with the state kept in opts.StateFile (a missing
// file is an empty state), or an in-memory one if it is not set.
func Open(opts Options) (*Emulator, error) {
	e := newEmulator(opts)
	if e.stateFile == "" {
		return e, nil
	}
	if err := e.load(); err != nil {
		return nil, err
	}
	return e, nil
}

func newEmulator(opts Options) *Emulator {
	e := &Emulator{
		account:      opts.Account,
		principals:   make(map[string]string, len(opts.Principals)),
		log:          opts.Logger,
		now:          opts.Now,
		replicaDelay: opts.ReplicaDelay,
		stateFile:    opts.StateFile,
		companions:   opts.Companions,
		regions:      map[string]*region{},
		grants:       map[string]*grant{},
		tokenSecret:  make([]byte, 32),
		eventDelay:   opts.EventDelay,
	}
	_, _ = rand.Read(e.tokenSecret)
	if e.account == "" {
		e.account = DefaultAccount
	}
	for k, v := range opts.Principals {
		e.principals[k] = v
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// call is one request being served.
type call struct {
	e         *Emulator
	op        string
	region    string
	service   string // "kms", or "sts" for the one STS question a client may ask (see serveSTS)
	principal principal
	now       time.Time
	key       string // the key the request was about, for the log line
	requestID string // made once a request, for the answer's header, its body and the log
}

// logOutcome writes the one log line of a request.
func (c *call) logOutcome(outcome string) {
	c.e.log.Info("kms request", "request_id", c.requestID, "op", c.op, "region", c.region,
		"principal", c.principal.arn, "key", c.key, "outcome", outcome)
}

type handlerFunc func(c *call, body []byte) (any, error)

var operations = map[string]handlerFunc{
	"CancelKeyDeletion":               (*call).cancelKeyDeletion,
	"CreateAlias":                     (*call).createAlias,
	"CreateGrant":                     (*call).createGrant,
	"CreateKey":                       (*call).createKey,
	"Decrypt":                         (*call).decrypt,
	"DeleteAlias":                     (*call).deleteAlias,
	"DescribeKey":                     (*call).describeKey,
	"DisableKey":                      (*call).disableKey,
	"DisableKeyRotation":              (*call).disableKeyRotation,
	"EnableKey":                       (*call).enableKey,
	"EnableKeyRotation":               (*call).enableKeyRotation,
	"Encrypt":                         (*call).encrypt,
	"GenerateDataKey":                 (*call).generateDataKey,
	"GenerateDataKeyWithoutPlaintext": (*call).generateDataKeyWithoutPlaintext,
	"GetKeyPolicy":                    (*call).getKeyPolicy,
	"GetKeyRotationStatus":            (*call).getKeyRotationStatus,
	"ListAliases":                     (*call).listAliases,
	"ListGrants":                      (*call).listGrants,
	"ListKeyPolicies":                 (*call).listKeyPolicies,
	"ListKeys":                        (*call).listKeys,
	"ListResourceTags":                (*call).listResourceTags,
	"PutKeyPolicy":                    (*call).putKeyPolicy,
	"ReEncrypt":                       (*call).reEncrypt,
	"ReplicateKey":                    (*call).replicateKey,
	"RetireGrant":                     (*call).retireGrant,
	"RevokeGrant":                     (*call).revokeGrant,
	"ScheduleKeyDeletion":             (*call).scheduleKeyDeletion,
	"TagResource":                     (*call).tagResource,
	"UntagResource":                   (*call).untagResource,
	"UpdateAlias":                     (*call).updateAlias,
	"UpdateKeyDescription":            (*call).updateKeyDescription,
}

// readOnly are the operations that never change what -state keeps, so they
// need not rewrite it.
var readOnly = strings.Fields(`Decrypt DescribeKey Encrypt GenerateDataKey GenerateDataKeyWithoutPlaintext
	GetKeyPolicy GetKeyRotationStatus ListAliases ListGrants ListKeyPolicies ListKeys ListResourceTags ReEncrypt`)

// unimplemented are real KMS operations this emulator does not model; they
// answer UnsupportedOperationException rather than UnknownOperationException
// so that a client learns the operation exists but is out of scope here. No
// part of such a request is read, so nothing changes.
var unimplemented = strings.Fields(`ConnectCustomKeyStore CreateCustomKeyStore Decapsulate
	DeleteCustomKeyStore DeleteImportedKeyMaterial DeriveSharedSecret DescribeCustomKeyStores
	DisconnectCustomKeyStore Encapsulate GenerateDataKeyPair
	GenerateDataKeyPairWithoutPlaintext GenerateMac GenerateRandom GetKeyLastUsage
	GetParametersForImport GetPublicKey ImportKeyMaterial ListKeyRotations
	ListRetirableGrants RotateKeyOnDemand Sign UpdateCustomKeyStore UpdatePrimaryRegion Verify VerifyMac`)

const targetPrefix = "TrentService."

// ServeHTTP answers one KMS API request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{e: e, op: strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix), requestID: newUUID()}
	w.Header().Set("X-Amzn-RequestId", c.requestID)
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("kms emulator panic", "request_id", c.requestID, "op", c.op, "panic", fmt.Sprint(p))
			c.respond(w, nil, internalError("internal failure"))
		}
	}()
	if err := c.authenticate(r); err != nil {
		c.respond(w, nil, err)
		return
	}
	switch c.service {
	case "sts":
		c.serveSTS(w, r)
		return
	case "iam":
		c.serveIAM(w, r)
		return
	}
	out, err := c.serve(r)
	c.respond(w, out, err)
}

func (c *call) serve(r *http.Request) (any, error) {
	target := r.Header.Get("X-Amz-Target")
	ops := operations
	if c.service == "events" && strings.HasPrefix(target, eventsTargetPrefix) {
		c.op, ops = strings.TrimPrefix(target, eventsTargetPrefix), eventsOperations
	} else if r.Method != http.MethodPost || !strings.HasPrefix(target, targetPrefix) {
		return nil, newError(errUnknownOperation, "Operation is not supported: %s %s", r.Method, target)
	}
	h, ok := ops[c.op]
	if !ok {
		for _, name := range unimplemented {
			if name == c.op {
				return nil, newError(errUnsupportedOp, "%s is not supported by this KMS emulator.", c.op)
			}
		}
		return nil, newError(errUnknownOperation, "Operation %s is not supported.", c.op)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, newError(errSerialization, "The request body could not be read.")
	}
	if len(body) > maxBody {
		return nil, newError(errValidation, "The request body exceeds %d bytes.", maxBody)
	}
	c.now = c.e.now()
	out, err := h(c, body)
	if err != nil {
		return nil, err
	}
	if c.service == "kms" && c.key != "" && slices.Contains(emittingOps, c.op) {
		c.emitCall(c.key, body)
	}
	if err := c.e.saveAfter(c.op); err != nil {
		// The change is made in memory but not kept: say so rather than answer as if it were.
		c.e.log.Error("kms emulator could not save its state", "file", c.e.stateFile, "op", c.op, "err", err)
		return nil, internalError("the emulator could not save its state")
	}
	return out, nil
}

func (c *call) respond(w http.ResponseWriter, out any, err error) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	outcome := "ok"
	status := http.StatusOK
	var body []byte
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = internalError("internal failure")
			c.e.log.Error("kms emulator failure", "request_id", c.requestID, "op", c.op, "err", err)
		}
		outcome, status = ae.typ, ae.status
		w.Header().Set("X-Amzn-ErrorType", ae.typ)
		body, _ = json.Marshal(map[string]string{"__type": ae.typ, "message": ae.msg})
	} else if out != nil {
		var mErr error
		if body, mErr = json.Marshal(out); mErr != nil {
			c.respond(w, nil, mErr)
			return
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	c.logOutcome(outcome)
}

// principal is the caller, as its SigV4 access key id maps it.
type principal struct {
	arn     string
	account string // the 12-digit account of arn; empty if arn is not an ARN
}

var (
	regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	datePattern   = regexp.MustCompile(`^\d{8}$`)
)

// authenticate reads the SigV4 Authorization header; signatures are not
// checked (no secrets are known), but its credential scope names the caller
// and the region, as it does for AWS.
func (c *call) authenticate(r *http.Request) error {
	h := r.Header.Get("Authorization")
	if h == "" {
		return newError(errMissingAuth, "Missing Authentication Token")
	}
	algo, params, ok := strings.Cut(h, " ")
	if !ok || algo != "AWS4-HMAC-SHA256" {
		return newError(errIncompleteSig, "Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
	}
	fields := map[string]string{}
	for _, p := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return newError(errIncompleteSig, "Authorization header requires '%s' parameter.", k)
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || !datePattern.MatchString(scope[1]) || scope[4] != "aws4_request" {
		return newError(errIncompleteSig, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.")
	}
	switch scope[3] {
	case "kms", "sts", "events", "iam":
	default:
		return newError(errInvalidSignature, "Credential should be scoped to correct service: 'kms'.")
	}
	c.service = scope[3]
	if !regionPattern.MatchString(scope[2]) {
		return newError(errInvalidSignature, "Credential should be scoped to a valid region.")
	}
	c.region = scope[2]
	arn, ok := c.e.principals[scope[0]]
	if !ok {
		arn = rootARN(partition(c.region), c.e.account)
	}
	c.principal = principal{arn: arn, account: arnAccount(arn)}
	return nil
}

// partition is the ARN partition a region belongs to.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	default:
		return "aws"
	}
}

func rootARN(part, account string) string { return "arn:" + part + ":iam::" + account + ":root" }

// arnAccount returns the account field of an ARN ("" if s is not an ARN).
func arnAccount(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ""
	}
	return parts[4]
}

// newUUID returns a random (version 4) UUID in lowercase, the form of KMS key ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomHex returns n random bytes in lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
