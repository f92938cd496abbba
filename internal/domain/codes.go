package domain

// Every code a client may see, spelled once. Error codes are what an error body's "code" says; check codes
// are what a verification check's "code" says. Packages that own a rule (keyarn, kms,
// verify, keypolicy) name these constants; none spells a code again or re-exports one.
const (
	// Request shape.
	CodeInvalidJSON          = "invalid_json"
	CodeUnknownField         = "unknown_field"
	CodeInvalidRequest       = "invalid_request"
	CodeInvalidCursor        = "invalid_cursor"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeNotFound             = "not_found"
	// CodeMalformedRequest is a request that is not even HTTP (a malformed request line, bad
	// percent-escapes in the path, headers too large), refused before any route is matched, or a body
	// whose meaning is ambiguous (a name twice in one object).
	CodeMalformedRequest = "malformed_request"
	CodeInternal         = "internal_error"
	CodeUnavailable      = "unavailable"
	// CodeDatabaseUnavailable is a request that needed the database while it was unreachable.
	CodeDatabaseUnavailable = "database_unavailable"
	// CodeServerBusy is a request whose body would take the server past the memory that request bodies
	// in flight may hold together (CMEKD_MAX_INFLIGHT_BYTES); retryable.
	CodeServerBusy = "server_busy"

	// Authentication, roles and limits.
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeKeyCheckNotAllowed = "key_check_not_allowed"
	CodeRateLimited        = "rate_limited"
	CodeLimitExceeded      = "limit_exceeded"

	// Key ARN rules.
	CodeInvalidKeyARN              = "invalid_key_arn"
	CodeAliasNotSupported          = "alias_not_supported"
	CodeKeyARNRequired             = "key_arn_required"
	CodeKeyRegionMismatch          = "key_region_mismatch"
	CodeUnsupportedRegion          = "unsupported_region"
	CodeMultiRegionKeyRequired     = "multi_region_key_required"
	CodeMultiRegionKeyNotSupported = "multi_region_key_not_supported"

	// Organisations, key policies and idempotency.
	CodeKeyVerificationFailed = "key_verification_failed"
	CodeOrgNameTaken          = "org_name_taken"
	CodeKeyLinkImmutable      = "key_link_immutable"
	CodeCMEKRequiresNewOrg    = "cmek_requires_new_org"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeInvalidPrincipal      = "invalid_principal"

	// Keys and collections.
	CodeKeyUnavailable = "key_unavailable"
	CodeKMSUnreachable = "kms_unreachable"
	// CodeProviderKeyUnavailable is the platform's own key (CMEKD_PROVIDER_KEY_ARN) failing: the
	// platform's fault, never the tenant's.
	CodeProviderKeyUnavailable  = "provider_key_unavailable"
	CodeCollectionIngestHalted  = "collection_ingest_halted"
	CodeCollectionPaused        = "collection_paused"
	CodeCollectionUnrecoverable = "collection_unrecoverable"
	CodeCollectionNameTaken     = "collection_name_taken"
	CodeCollectionNotPaused     = "collection_not_paused"
	CodeDocumentIntegrity       = "document_integrity_failed"
	// Regions.
	CodeRegionAlreadyLinked = "region_already_linked"
	CodeRegionNotLinked     = "region_not_linked"
	// Backups: a restore of a backup that is not complete, a delete of one still copying.
	CodeBackupNotComplete = "backup_not_complete"
	CodeBackupRunning     = "backup_running"

	// Workspaces and secret scopes.
	CodeWorkspaceNameTaken      = "workspace_name_taken"
	CodeSecretScopeNameTaken    = "secret_scope_name_taken"
	CodeSecretScopeRoleRequired = "secret_scope_role_required"
	CodeWorkspaceRoleNotAllowed = "workspace_role_not_allowed"
	CodeSecretIntegrity         = "secret_integrity_failed"
	// Webhooks.
	CodeInvalidWebhookURL = "invalid_webhook_url"
	CodeWebhookDisabled   = "webhook_disabled"

	// Key providers: Google Cloud KMS and Azure Key Vault beside AWS KMS.
	CodeInvalidKeyID         = "invalid_key_id"
	CodeKeyVersionNotAllowed = "key_version_not_allowed"
	CodeKeyARNNotApplicable  = "key_arn_not_applicable"
	CodeProviderMismatch     = "provider_mismatch"
	CodeUnsupportedProvider  = "unsupported_provider"
	CodeKeyIDRequired        = "key_id_required"
)

// Check codes of the verification probe: why a verification check failed. Probes report them in last_error, and
// key_unavailable carries one as details.reason.
const (
	// CodeAccessDenied means the key policy or grants do not let the platform perform the action.
	CodeAccessDenied = "access_denied"
	// CodeKeyDisabled means the customer disabled the key.
	CodeKeyDisabled = "key_disabled"
	// CodeKeyPendingDeletion means the customer scheduled the key for deletion.
	CodeKeyPendingDeletion = "key_pending_deletion"
	// CodeKeyNotFound means the key does not exist (or no longer exists) in its region.
	CodeKeyNotFound = "key_not_found"
	// CodeKeyStateInvalid means the key is in a state other than disabled or pending deletion that
	// forbids the call.
	CodeKeyStateInvalid = "key_state_invalid"
	// CodeWrongKeyUsage means the key cannot perform symmetric encryption (asymmetric, HMAC or
	// signing keys).
	CodeWrongKeyUsage       = "wrong_key_usage"
	CodeWrongKeySpec        = "wrong_key_spec"
	CodeAWSManagedKey       = "aws_managed_key"
	CodeMultiRegionMismatch = "multi_region_mismatch"
	CodeDecryptMismatch     = "decrypt_mismatch"
	CodeNotAReplica         = "not_a_replica"
	// CodeInvalidCiphertext means the ciphertext, its encryption context or its key do not match.
	CodeInvalidCiphertext = "invalid_ciphertext"
	// CodeKMSUnavailable means KMS could not be reached, timed out, throttled us or failed on its
	// side; retryable.
	CodeKMSUnavailable = "kms_unavailable"
	// CodeKMSError means KMS rejected the request for a reason that is neither the customer's key nor
	// an outage (a ValidationException, credentials KMS does not recognise, an unknown exception).
	CodeKMSError = "kms_error"
	CodeSkipped  = "skipped"
	// CodeKeyExpired and CodeKeyNotYetValid mean the key is outside its validity window (Azure's
	// expiry and not-before).
	CodeKeyExpired     = "key_expired"
	CodeKeyNotYetValid = "key_not_yet_valid"
	// CodeWrongKeyPurpose means a Google Cloud key is not for ENCRYPT_DECRYPT.
	CodeWrongKeyPurpose = "wrong_key_purpose"
	// CodeWrongKeyType means an Azure key is not RSA (2048 bits or more) or, on Managed HSM, oct-HSM.
	CodeWrongKeyType = "wrong_key_type"
	// CodeKeyOpsNotAllowed means an Azure key does not allow wrapKey and unwrapKey.
	CodeKeyOpsNotAllowed = "key_ops_not_allowed"
	// CodeKeyDeleted means the key (or its every version) was destroyed or purged.
	CodeKeyDeleted = "key_deleted"
)

// ErrorCodes lists every code an error body may carry, for the test that holds the OpenAPI
// document to them.
var ErrorCodes = []string{
	CodeInvalidJSON, CodeUnknownField, CodeInvalidRequest, CodeInvalidCursor, CodePayloadTooLarge,
	CodeUnsupportedMediaType, CodeMethodNotAllowed, CodeNotFound, CodeMalformedRequest, CodeInternal, CodeUnavailable, CodeDatabaseUnavailable,
	CodeServerBusy, CodeUnauthorized, CodeForbidden, CodeKeyCheckNotAllowed, CodeRateLimited, CodeLimitExceeded,
	CodeInvalidKeyARN, CodeAliasNotSupported, CodeKeyARNRequired, CodeKeyRegionMismatch,
	CodeUnsupportedRegion, CodeMultiRegionKeyRequired, CodeMultiRegionKeyNotSupported,
	CodeKeyVerificationFailed, CodeOrgNameTaken, CodeKeyLinkImmutable, CodeCMEKRequiresNewOrg,
	CodeIdempotencyKeyReused, CodeInvalidPrincipal,
	CodeKeyUnavailable, CodeKMSUnreachable, CodeProviderKeyUnavailable, CodeCollectionIngestHalted, CodeCollectionPaused,
	CodeCollectionUnrecoverable, CodeCollectionNameTaken, CodeCollectionNotPaused, CodeDocumentIntegrity,
	CodeRegionAlreadyLinked, CodeRegionNotLinked, CodeBackupNotComplete, CodeBackupRunning,
	CodeWorkspaceNameTaken, CodeSecretScopeNameTaken, CodeSecretScopeRoleRequired, CodeWorkspaceRoleNotAllowed,
	CodeSecretIntegrity,
	CodeInvalidWebhookURL, CodeWebhookDisabled,
	CodeInvalidKeyID, CodeKeyVersionNotAllowed, CodeKeyARNNotApplicable, CodeProviderMismatch, CodeUnsupportedProvider, CodeKeyIDRequired,
}

// CheckCodes lists every code a verification check may carry.
var CheckCodes = []string{
	CodeAccessDenied, CodeKeyDisabled, CodeKeyPendingDeletion, CodeKeyNotFound, CodeKeyStateInvalid,
	CodeWrongKeyUsage, CodeWrongKeySpec, CodeAWSManagedKey, CodeMultiRegionMismatch, CodeDecryptMismatch, CodeNotAReplica,
	CodeInvalidCiphertext, CodeKMSUnavailable, CodeKMSError, CodeSkipped,
	CodeInvalidKeyARN, CodeAliasNotSupported, CodeKeyARNRequired, CodeKeyRegionMismatch,
	CodeUnsupportedRegion, CodeMultiRegionKeyRequired, CodeMultiRegionKeyNotSupported,
	CodeKeyExpired, CodeKeyNotYetValid, CodeWrongKeyPurpose, CodeWrongKeyType, CodeKeyOpsNotAllowed, CodeKeyDeleted,
	CodeInvalidKeyID, CodeKeyVersionNotAllowed,
}
