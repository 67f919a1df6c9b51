//! Stable machine-readable error codes (the `code` of [`ErrorBody`](super::ErrorBody)): the one list of
//! them; the server maps every error to one of these and clients match on them.
/// Malformed request (bad query, bad header, malformed JSON).
pub const BAD_REQUEST: &str = "bad_request";
/// The JSON body does not parse or does not match the schema.
pub const INVALID_JSON: &str = "invalid_json";
/// A namespace, model name or version label breaks the naming rules.
pub const INVALID_NAME: &str = "invalid_name";
/// A digest is not `sha256:<64 lowercase hex>`.
pub const INVALID_DIGEST: &str = "invalid_digest";
/// A manifest breaks the path rules, lists duplicates, or is empty.
pub const INVALID_MANIFEST: &str = "invalid_manifest";
/// Lineage or metadata breaks a rule or a bound.
pub const INVALID_LINEAGE: &str = "invalid_lineage";
/// An uploaded body does not hash to (or is not as long as) what the URL/header says.
pub const DIGEST_MISMATCH: &str = "digest_mismatch";
/// The manifest names blobs the server does not have (`details.missing`).
pub const MISSING_BLOBS: &str = "missing_blobs";
/// A parent version named in lineage does not exist (`details.missing`).
pub const UNKNOWN_PARENT: &str = "unknown_parent";
/// Body over the size limit.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// A free-text field (such as a `reason`) is longer than `MAX_TEXT_LEN` (4 KiB).
pub const TEXT_TOO_LONG: &str = "text_too_long";
/// Nothing at that name.
pub const NOT_FOUND: &str = "not_found";
/// The version label exists with another manifest.
pub const VERSION_EXISTS: &str = "version_exists";
/// The requested byte range is outside the blob.
pub const RANGE_NOT_SATISFIABLE: &str = "range_not_satisfiable";
/// Wrong or missing `Content-Type`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
/// No or bad credentials.
pub const UNAUTHORIZED: &str = "unauthorized";
/// Credentials lack the scope or namespace.
pub const FORBIDDEN: &str = "forbidden";
/// The server is shutting down or a dependency is down; retry.
pub const UNAVAILABLE: &str = "unavailable";
/// A server fault; details are in the server log, never in the response.
pub const INTERNAL: &str = "internal";
/// A token with that name exists.
pub const TOKEN_EXISTS: &str = "token_exists";
/// An attestation does not verify (signature, signer, statement, subject); nothing was stored.
pub const INVALID_ATTESTATION: &str = "invalid_attestation";
/// The namespace requires signed SLSA provenance bound to the manifest, and none verified.
pub const PROVENANCE_REQUIRED: &str = "provenance_required";
/// A public key that does not parse.
pub const INVALID_KEY: &str = "invalid_key";
/// A promotion policy denied the move (403; `details.reasons` says why).
pub const POLICY_DENIED: &str = "policy_denied";
/// Compare-and-swap failed: the alias no longer points where the caller expected (409).
pub const ALIAS_MOVED: &str = "alias_moved";
/// A rollback found no earlier target that passes (409).
pub const NO_ROLLBACK_TARGET: &str = "no_rollback_target";
/// A Rego module that does not compile or is not `package registry.promote` (400).
pub const INVALID_POLICY: &str = "invalid_policy";
/// A name is taken: an alias cannot shadow a version label, nor a label an alias (409).
pub const NAME_CONFLICT: &str = "name_conflict";
/// The quarantine was lifted already (409).
pub const ALREADY_LIFTED: &str = "already_lifted";
/// An upload part arrived before the part it follows did, and waiting for it ran out (409):
/// send parts in order, a few at a time.
pub const PART_OUT_OF_ORDER: &str = "part_out_of_order";
/// A part already confirmed was sent again with different bytes (409).
pub const PART_CONFLICT: &str = "part_conflict";
/// Completing an upload whose parts have not all been confirmed (409; `details.missing`).
pub const UPLOAD_INCOMPLETE: &str = "upload_incomplete";
/// The upload session expired or was completed or aborted (404 is used for unknown ids).
pub const UPLOAD_GONE: &str = "upload_gone";
/// The registry's storage is full (507): nothing was stored; an upload session hit by it is
/// discarded, so its staged parts free their space. Send the bytes again once space is freed.
pub const STORAGE_FULL: &str = "storage_full";
/// The server holds as many upload parts as its memory budget allows (429, `Retry-After` and
/// `details.retry_after` in seconds): send the part again then.
pub const UPLOAD_BUSY: &str = "upload_busy";
/// A concurrent change conflicted with this one; retry (409).
pub const CONFLICT: &str = "conflict";
/// The key is already trusted for that namespace pattern (409).
pub const KEY_EXISTS: &str = "key_exists";
/// A Sigstore trust root that does not parse, or a bad trust-root name.
pub const INVALID_TRUST_ROOT: &str = "invalid_trust_root";
/// A trust root cannot be removed while active identities are tied to it.
pub const TRUST_ROOT_IN_USE: &str = "trust_root_in_use";
/// A keyless identity rule that is not valid (issuer, subject pattern, claim names, bounds).
pub const INVALID_IDENTITY: &str = "invalid_identity";
/// The path exists but not with this method (405).
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// A webhook subscription that cannot be made: a URL that is not http(s) or whose address is
/// refused (loopback/private without `--webhooks-allow-private`, link-local always), an unknown event
/// type, a bad namespace pattern or format (400).
pub const INVALID_WEBHOOK: &str = "invalid_webhook";
