"""The problems ingest answers, as its OpenAPI document lists them per operation
(``shared.openapi.errors``). Codes and details are the ones the code paths send."""

from __future__ import annotations

from shared.openapi import ADMIN_UNAUTHORIZED, Answer, errors, invalid, not_found, request_invalid

_SIGNATURE_CHALLENGE = ("WWW-Authenticate",)

SOURCE_REQUIRED = Answer(
    400,
    "source_required",
    "name the lead source with the X-Leadflow-Source header or the source query parameter",
    summary="No source named",
    errors=(("X-Leadflow-Source", "missing", "missing"),),
)
UNKNOWN_SOURCE = Answer(
    401, "unknown_source", "source 'newsletter' is not configured", summary="Unknown source"
)
SIGNATURE_MISSING = Answer(
    401,
    "signature_missing_headers",
    "webhook-id, webhook-timestamp and webhook-signature headers are required",
    summary="A signed source without its Standard Webhooks headers",
    headers=_SIGNATURE_CHALLENGE,
)
SIGNATURE_MALFORMED = Answer(
    401,
    "signature_malformed",
    "webhook-timestamp must be integer seconds",
    summary="Malformed webhook-id, webhook-timestamp or webhook-signature",
    headers=_SIGNATURE_CHALLENGE,
)
SIGNATURE_STALE = Answer(
    401,
    "signature_stale",
    "webhook-timestamp is outside the 300s tolerance",
    summary="webhook-timestamp more than 5 minutes from the server's clock",
    headers=_SIGNATURE_CHALLENGE,
)
SIGNATURE_MISMATCH = Answer(
    401,
    "signature_mismatch",
    "no signature matches an active secret for this source",
    summary="The signature does not verify with any active secret of the source",
    headers=_SIGNATURE_CHALLENGE,
)
ORIGIN_NOT_ALLOWED = Answer(
    403,
    "origin_not_allowed",
    "origin 'https://evil.example' may not post to source 'web-form'",
    summary="Origin not allowed for this public source",
)
SOURCE_NOT_ALLOWED = Answer(
    403,
    "source_not_allowed",
    "activities must come from a signed source",
    summary="Activities come from signed sources only",
)
REQUEST_IN_PROGRESS = Answer(
    409,
    "request_in_progress",
    "a request with this idempotency key is being processed; retry shortly",
    summary="A request with the same idempotency key is still in flight (Retry-After)",
    headers=("Retry-After",),
)
BODY_TOO_LARGE = Answer(
    413,
    "payload_too_large",
    "request body exceeds 65536 bytes",
    summary="Body over the limit (64 KiB; refused before it is read)",
)
UNSUPPORTED_MEDIA_TYPE = Answer(
    415,
    "unsupported_media_type",
    "send application/json or application/x-www-form-urlencoded",
    summary="Neither JSON nor form-encoded",
    errors=(("Content-Type", "text/plain is not accepted", "media_type"),),
)
LEAD_INVALID = Answer(
    422,
    "validation_error",
    "invalid lead: email, company_size",
    summary="Invalid lead: errors[].field names each problem",
    headers=("Idempotent-Replayed",),  # a keyed re-send gets the stored refusal
    errors=(
        ("email", "not a valid email address", "value_error"),
        ("company_size", "not a company size: 'lots'", "value_error"),
    ),
)
HONEYPOT = Answer(
    422,
    "validation_error",
    "invalid lead: website_url",
    summary="The honeypot field of a public source was filled in",
    errors=(("website_url", "this field must be left empty", "honeypot"),),
    name="validation_error.honeypot",
)
INVALID_IDEMPOTENCY_KEY = Answer(
    422,
    "invalid_idempotency_key",
    "Idempotency-Key must be 1-256 characters",
    summary="Idempotency-Key (or webhook-id) longer than 256 characters",
)
IDEMPOTENCY_KEY_REUSED = Answer(
    422,
    "idempotency_key_reused",
    "this idempotency key was used with a different request body",
    summary="The idempotency key was used before with another body",
    errors=(("Idempotency-Key", "already used for another body", "conflict"),),
)
RATE_LIMITED = Answer(
    429,
    "rate_limited",
    "too many submissions from this client; slow down",
    summary="Rate limit of a public source (Retry-After)",
    headers=("Retry-After",),
)
DATABASE_UNAVAILABLE = Answer(
    503,
    "database_unavailable",
    "the request could not be recorded right now; nothing was accepted, retry later",
    summary="PostgreSQL could not record a keyed request's answer: nothing was accepted",
    headers=("Retry-After",),
)
KAFKA_UNAVAILABLE = Answer(
    503,
    "kafka_unavailable",
    "the lead could not be stored durably right now; nothing was accepted, retry later",
    summary="Kafka unavailable: nothing was accepted, retry after Retry-After",
    headers=("Retry-After",),
)

_KEYED_422 = (
    "A keyed request (webhook-id or Idempotency-Key) that was refused with 422 gets the same "
    "stored 422 when it is sent again with that key, with `Idempotent-Replayed: true`."
)

LEAD_ERRORS = errors(
    SOURCE_REQUIRED,
    UNKNOWN_SOURCE,
    SIGNATURE_MISSING,
    SIGNATURE_MALFORMED,
    SIGNATURE_STALE,
    SIGNATURE_MISMATCH,
    ORIGIN_NOT_ALLOWED,
    REQUEST_IN_PROGRESS,
    BODY_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    LEAD_INVALID,
    HONEYPOT,
    INVALID_IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_REUSED,
    RATE_LIMITED,
    KAFKA_UNAVAILABLE,
    DATABASE_UNAVAILABLE,
    descriptions={
        401: "Unknown source; missing or malformed signature headers, a signature that does not "
        "verify, or a timestamp outside the 5-minute tolerance (`code` says which). An identical "
        "re-send of an accepted signed request inside the tolerance is not a 401: it gets the "
        "first answer (202, `Idempotent-Replayed: true`).",
        403: "Origin not allowed for this public source",
        422: "Invalid lead (errors[].field names each problem, the honeypot included), a bad "
        "Idempotency-Key, or an idempotency key reused with another body. " + _KEYED_422,
    },
)

ACTIVITY_ERRORS = errors(
    SOURCE_REQUIRED,
    UNKNOWN_SOURCE,
    SIGNATURE_MISSING,
    SIGNATURE_MALFORMED,
    SIGNATURE_STALE,
    SIGNATURE_MISMATCH,
    SOURCE_NOT_ALLOWED,
    REQUEST_IN_PROGRESS,
    BODY_TOO_LARGE,
    Answer(
        422,
        "validation_error",
        "invalid activity: touch_channel",
        summary="Invalid activity: errors[].field names each problem",
        headers=("Idempotent-Replayed",),
        errors=(
            (
                "touch_channel",
                "touch_channel (call, email or meeting) is required for kind=touch",
                "value_error",
            ),
        ),
    ),
    invalid(
        "reason",
        "unknown reason 'no_budget'; allowed: bad_timing, no_budget_this_year, duplicate",
        "A disqualification reason the dispositions file does not list",
    ),
    request_invalid("path.lead_id", "Input should be a valid UUID"),
    INVALID_IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_REUSED,
    KAFKA_UNAVAILABLE,
    DATABASE_UNAVAILABLE,
    descriptions={
        401: "Unknown source; missing or malformed signature headers, a signature that does not "
        "verify, or a timestamp outside the 5-minute tolerance (`code` says which). An identical "
        "re-send of an accepted request inside the tolerance gets the first answer instead.",
        403: "Not a signed source (refused before any check of a public or list source)",
        422: "Invalid activity (errors[].field names each problem), an unknown reason code, a "
        "lead id that is not a UUID, a bad webhook-id, or a key reused with another body. "
        + _KEYED_422,
    },
)

IMPORT_FILE_INVALID = Answer(
    422,
    "invalid_file",
    "no email or phone column: the file needs at least one",
    summary="Not a usable CSV (encoding, header, no email or phone column)",
    errors=(("file", "no email or phone column: the file needs at least one", "file"),),
)
MAPPING_INVALID = Answer(
    422,
    "validation_error",
    "invalid mapping",
    summary="mapping is not a JSON object of strings",
    errors=(("mapping", "must be a JSON object of strings", "value_error"),),
    name="validation_error.mapping",
)
FILE_TOO_LARGE = Answer(
    413,
    "payload_too_large",
    "request body exceeds 268435456 bytes",
    summary="File over the byte limit (256 MiB)",
)
TOO_MANY_ROWS = Answer(
    413,
    "too_many_rows",
    "the file has more than 1000000 rows",
    summary="File over the row limit",
    errors=(("file", "at most 1000000 rows per import", "too_many_rows"),),
)
_UPLOAD = (ADMIN_UNAUTHORIZED, FILE_TOO_LARGE, TOO_MANY_ROWS, IMPORT_FILE_INVALID, MAPPING_INVALID)

LIST_IMPORT_ERRORS = errors(
    *_UPLOAD,
    not_found(
        "no list source 'spring-list' is configured", "No such list source", code="unknown_list"
    ),
    Answer(
        422,
        "not_a_list",
        "source 'website' is a signed source, not a purchased list",
        summary="The source is not of kind list",
        errors=(("list", "'website' is not of kind list", "value_error"),),
    ),
    request_invalid("body.file"),
)

TRADE_SHOW_IMPORT_ERRORS = errors(
    *_UPLOAD,
    invalid("timezone", "must be an IANA time zone", "timezone is not an IANA time zone"),
    request_invalid("body.end_date", "Input should be a valid date or datetime"),
)

_NO_IMPORT = not_found("no import 5f0c8a52-8d9e-4d4e-9d57-1f0b7c1f2a10", "No such import")
_BAD_IMPORT_ID = request_invalid("path.import_id", "Input should be a valid UUID")

READ_IMPORT_ERRORS = errors(ADMIN_UNAUTHORIZED, _NO_IMPORT, _BAD_IMPORT_ID)

CANCEL_IMPORT_ERRORS = errors(
    ADMIN_UNAUTHORIZED,
    _NO_IMPORT,
    Answer(
        409,
        "import_finished",
        "import 5f0c8a52-8d9e-4d4e-9d57-1f0b7c1f2a10 is done; only a queued or running import "
        "can be cancelled",
        summary="The import is already done or failed",
    ),
    _BAD_IMPORT_ID,
)
