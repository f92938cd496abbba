package awsemu

import "slices"

// Key usages and the symmetric spec, as the KMS API spells them.
const (
	usageEncrypt         = "ENCRYPT_DECRYPT"
	usageSign            = "SIGN_VERIFY"
	usageMAC             = "GENERATE_VERIFY_MAC"
	usageAgreement       = "KEY_AGREEMENT"
	usageEncapsulate     = "ENCAPSULATE_DECAPSULATE"
	specSymmetric        = "SYMMETRIC_DEFAULT"
	algSymmetric         = "SYMMETRIC_DEFAULT"
	managerCustomer      = "CUSTOMER"
	managerAWS           = "AWS"
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
	// statePendingReplica is a multi-region primary whose deletion waits for its replicas.
	statePendingReplica = "PendingReplicaDeletion"
	// stateCreating is a new replica that KMS has not finished making.
	stateCreating = "Creating"
)

// algorithms lists what DescribeKey reports for one KeySpec/KeyUsage pair.
type algorithms struct {
	encryption, signing, mac, agreement, encapsulation []string
}

var (
	rsaSigning = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}
	rsaUsages = map[string]algorithms{
		usageEncrypt: {encryption: []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}},
		usageSign:    {signing: rsaSigning},
	}
	ecdh = []string{"ECDH"}
)

func eccUsages(alg string, agreement bool) map[string]algorithms {
	u := map[string]algorithms{usageSign: {signing: []string{alg}}}
	if agreement {
		u[usageAgreement] = algorithms{agreement: ecdh}
	}
	return u
}

func hmacUsages(alg string) map[string]algorithms {
	return map[string]algorithms{usageMAC: {mac: []string{alg}}}
}

// keySpecs holds every valid KeySpec with the usages AWS allows for it and
// the algorithms DescribeKey reports for each pair.
var keySpecs = map[string]map[string]algorithms{
	specSymmetric:     {usageEncrypt: {encryption: []string{algSymmetric}}},
	"RSA_2048":        rsaUsages,
	"RSA_3072":        rsaUsages,
	"RSA_4096":        rsaUsages,
	"ECC_NIST_P256":   eccUsages("ECDSA_SHA_256", true),
	"ECC_NIST_P384":   eccUsages("ECDSA_SHA_384", true),
	"ECC_NIST_P521":   eccUsages("ECDSA_SHA_512", true),
	"ECC_SECG_P256K1": eccUsages("ECDSA_SHA_256", false),
	"HMAC_224":        hmacUsages("HMAC_SHA_224"),
	"HMAC_256":        hmacUsages("HMAC_SHA_256"),
	"HMAC_384":        hmacUsages("HMAC_SHA_384"),
	"HMAC_512":        hmacUsages("HMAC_SHA_512"),
	"SM2": {
		usageEncrypt:   {encryption: []string{"SM2PKE"}},
		usageSign:      {signing: []string{"SM2DSA"}},
		usageAgreement: {agreement: ecdh},
	},
	"ML_DSA_44":             {usageSign: {signing: []string{"ML_DSA_SHAKE_256"}}},
	"ML_DSA_65":             {usageSign: {signing: []string{"ML_DSA_SHAKE_256"}}},
	"ML_DSA_87":             {usageSign: {signing: []string{"ML_DSA_SHAKE_256"}}},
	"ECC_NIST_EDWARDS25519": {usageSign: {signing: []string{"ED25519_SHA_512", "ED25519_PH_SHA_512"}}},
	"ML_KEM_512":            {usageEncapsulate: {encapsulation: []string{"ML_KEM"}}},
	"ML_KEM_768":            {usageEncapsulate: {encapsulation: []string{"ML_KEM"}}},
	"ML_KEM_1024":           {usageEncapsulate: {encapsulation: []string{"ML_KEM"}}},
}

// Enumerations accepted on the wire, in the order AWS lists them in messages.
var (
	keySpecNames = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
		"ECC_NIST_P521", "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384",
		"HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519",
		"ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"}
	// legacySpecNames are the values of the deprecated CustomerMasterKeySpec.
	legacySpecNames = keySpecNames[:13]
	keyUsageNames   = []string{usageSign, usageEncrypt, usageMAC, usageAgreement, usageEncapsulate}
	originNames     = []string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}
	encryptionAlgs  = []string{algSymmetric, "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}
	dataKeySpecs    = []string{"AES_256", "AES_128"}
	grantOperations = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
		"ReEncryptFrom", "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant",
		"DescribeKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac",
		"VerifyMac", "DeriveSharedSecret", "Encapsulate", "Decapsulate"}
	// contextOperations are the grant operations that take an encryption
	// context, the only ones a grant constraint governs.
	contextOperations = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
		"ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}
	// constrainableOperations may be in a grant with encryption-context
	// constraints: the context operations and, as AWS allows, three that take
	// no context (the constraint does not apply to them).
	constrainableOperations = append(slices.Clone(contextOperations), "DescribeKey", "RetireGrant", "CreateGrant")
	// crossAccountActions are the actions AWS lets another account perform
	// with a key's ARN ("Cross-account use: Yes" in the API reference); every
	// other one is the owner account's alone, whatever the key policy says.
	crossAccountActions = []string{"CreateGrant", "Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey",
		"GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
		"GenerateMac", "GetKeyRotationStatus", "GetPublicKey", "ListGrants", "ReEncryptFrom", "ReEncryptTo",
		"RetireGrant", "RevokeGrant", "Sign", "Verify", "VerifyMac", "DeriveSharedSecret"}
)

func isLegacySpec(spec string) bool { return slices.Contains(legacySpecNames, spec) }
