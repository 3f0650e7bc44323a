//! Status names and numbers in policies: gRPC codes by their canonical names
//! (`UNAVAILABLE`), HTTP statuses by number.

use std::ops::RangeInclusive;

use serde_saphyr::Spanned;
use tonic::Code;

use super::fields::Fields;

/// Every gRPC code but OK, by its canonical name.
const GRPC_CODES: [(&str, Code); 16] = [
    ("CANCELLED", Code::Cancelled),
    ("UNKNOWN", Code::Unknown),
    ("INVALID_ARGUMENT", Code::InvalidArgument),
    ("DEADLINE_EXCEEDED", Code::DeadlineExceeded),
    ("NOT_FOUND", Code::NotFound),
    ("ALREADY_EXISTS", Code::AlreadyExists),
    ("PERMISSION_DENIED", Code::PermissionDenied),
    ("RESOURCE_EXHAUSTED", Code::ResourceExhausted),
    ("FAILED_PRECONDITION", Code::FailedPrecondition),
    ("ABORTED", Code::Aborted),
    ("OUT_OF_RANGE", Code::OutOfRange),
    ("UNIMPLEMENTED", Code::Unimplemented),
    ("INTERNAL", Code::Internal),
    ("UNAVAILABLE", Code::Unavailable),
    ("DATA_LOSS", Code::DataLoss),
    ("UNAUTHENTICATED", Code::Unauthenticated),
];

/// HTTP statuses a retry may be on.
pub(crate) const RETRY_HTTP_STATUSES: RangeInclusive<u32> = 500..=599;

/// HTTP statuses an injected abort may answer.
pub(crate) const ABORT_HTTP_STATUSES: RangeInclusive<u32> = 200..=599;

/// The gRPC code named `value`, one of `allowed`; otherwise the error lists them.
pub(crate) fn grpc_code(
    fields: &mut Fields<'_>,
    value: &Spanned<String>,
    field: &str,
    allowed: &[Code],
) -> Option<Code> {
    let found = GRPC_CODES
        .iter()
        .find(|(name, code)| *name == value.value && allowed.contains(code));
    if found.is_none() {
        let names: Vec<&str> = GRPC_CODES
            .iter()
            .filter(|(_, code)| allowed.contains(code))
            .map(|(name, _)| *name)
            .collect();
        let message = format!(
            "{:?} is not allowed here; use one of {}",
            value.value,
            names.join(", ")
        );
        fields.error(value.referenced, field, message);
    }
    found.map(|(_, code)| *code)
}

/// Every gRPC code but OK: what an injected abort may answer.
pub(crate) fn abort_grpc_codes() -> Vec<Code> {
    GRPC_CODES.iter().map(|(_, code)| *code).collect()
}

/// An HTTP status within `range`.
pub(crate) fn http_status(
    fields: &mut Fields<'_>,
    value: &Spanned<i64>,
    field: &str,
    range: RangeInclusive<u32>,
) -> Option<u16> {
    let status = fields.integer(value, field, range, "an HTTP status")?;
    u16::try_from(status).ok()
}
