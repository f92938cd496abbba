package domain

// Every code of SPEC.md, spelled once. Error codes are what an error body's "code" says; check codes
// are what a verification check's "code" says (SPEC §4). Packages that own a rule (keyarn, kms,
// verify) name these constants rather than spell the strings again.
const (
	// Request shape (SPEC §1).
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

	// Authentication, roles and limits (SPEC §2, §16).
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeKeyCheckNotAllowed = "key_check_not_allowed"
	CodeRateLimited        = "rate_limited"
	CodeLimitExceeded      = "limit_exceeded"

	// Key ARN rules (SPEC §3).
	CodeInvalidKeyARN              = "invalid_key_arn"
	CodeAliasNotSupported          = "alias_not_supported"
	CodeKeyARNRequired             = "key_arn_required"
	CodeKeyRegionMismatch          = "key_region_mismatch"
	CodeUnsupportedRegion          = "unsupported_region"
	CodeMultiRegionKeyRequired     = "multi_region_key_required"
	CodeMultiRegionKeyNotSupported = "multi_region_key_not_supported"

	// Organisations, key policies and idempotency (SPEC §1, §5, §6).
	CodeKeyVerificationFailed = "key_verification_failed"
	CodeOrgNameTaken          = "org_name_taken"
	CodeKeyLinkImmutable      = "key_link_immutable"
	CodeCMEKRequiresNewOrg    = "cmek_requires_new_org"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
	CodeInvalidPrincipal      = "invalid_principal"

	// Keys and collections (SPEC §5, §7, §8).
	CodeKeyUnavailable = "key_unavailable"
	CodeKMSUnreachable = "kms_unreachable"
	// CodeProviderKeyUnavailable is the platform's own key (CMEKD_PROVIDER_KEY_ARN) failing: the
	// platform's fault, never the tenant's (SPEC §16).
	CodeProviderKeyUnavailable  = "provider_key_unavailable"
	CodeCollectionIngestHalted  = "collection_ingest_halted"
	CodeCollectionPaused        = "collection_paused"
	CodeCollectionUnrecoverable = "collection_unrecoverable"
	CodeCollectionNameTaken     = "collection_name_taken"
	CodeCollectionNotPaused     = "collection_not_paused"
	CodeDocumentIntegrity       = "document_integrity_failed"
	// Regions (SPEC §11).
	CodeRegionAlreadyLinked = "region_already_linked"
	CodeRegionNotLinked     = "region_not_linked"
	// Backups (SPEC §11): a restore of a backup that is not complete, a delete of one still copying.
	CodeBackupNotComplete = "backup_not_complete"
	CodeBackupRunning     = "backup_running"

	// Workspaces and secret scopes (SPEC §13).
	CodeWorkspaceNameTaken      = "workspace_name_taken"
	CodeSecretScopeNameTaken    = "secret_scope_name_taken"
	CodeSecretScopeRoleRequired = "secret_scope_role_required"
	CodeWorkspaceRoleNotAllowed = "workspace_role_not_allowed"
	CodeSecretIntegrity         = "secret_integrity_failed"
	// Webhooks (SPEC §14).
	CodeInvalidWebhookURL = "invalid_webhook_url"
	CodeWebhookDisabled   = "webhook_disabled"
)

// Check codes of SPEC §4: why a verification check failed. Probes report them in last_error, and
// key_unavailable carries one as details.reason.
const (
	CodeAccessDenied        = "access_denied"
	CodeKeyDisabled         = "key_disabled"
	CodeKeyPendingDeletion  = "key_pending_deletion"
	CodeKeyNotFound         = "key_not_found"
	CodeKeyStateInvalid     = "key_state_invalid"
	CodeWrongKeyUsage       = "wrong_key_usage"
	CodeWrongKeySpec        = "wrong_key_spec"
	CodeAWSManagedKey       = "aws_managed_key"
	CodeMultiRegionMismatch = "multi_region_mismatch"
	CodeDecryptMismatch     = "decrypt_mismatch"
	CodeNotAReplica         = "not_a_replica"
	CodeInvalidCiphertext   = "invalid_ciphertext"
	CodeKMSUnavailable      = "kms_unavailable"
	CodeKMSError            = "kms_error"
	CodeSkipped             = "skipped"
)

// ErrorCodes lists every code an error body may carry, for the test that holds the OpenAPI
// document to them.
var ErrorCodes = []string{
	CodeInvalidJSON, CodeUnknownField, CodeInvalidRequest, CodeInvalidCursor, CodePayloadTooLarge,
	CodeUnsupportedMediaType, CodeMethodNotAllowed, CodeNotFound, CodeMalformedRequest, CodeInternal, CodeUnavailable, CodeDatabaseUnavailable,
	CodeUnauthorized, CodeForbidden, CodeKeyCheckNotAllowed, CodeRateLimited, CodeLimitExceeded,
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
}

// CheckCodes lists every code a verification check may carry.
var CheckCodes = []string{
	CodeAccessDenied, CodeKeyDisabled, CodeKeyPendingDeletion, CodeKeyNotFound, CodeKeyStateInvalid,
	CodeWrongKeyUsage, CodeWrongKeySpec, CodeAWSManagedKey, CodeMultiRegionMismatch, CodeDecryptMismatch, CodeNotAReplica,
	CodeInvalidCiphertext, CodeKMSUnavailable, CodeKMSError, CodeSkipped,
	CodeInvalidKeyARN, CodeAliasNotSupported, CodeKeyARNRequired, CodeKeyRegionMismatch,
	CodeUnsupportedRegion, CodeMultiRegionKeyRequired, CodeMultiRegionKeyNotSupported,
}
