//! The `error_code` catalog (SPEC §8) and the library's error type.
//!
//! Every failure a client can see carries one stable [`ErrorCode`]. Tool
//! calls return it as `{"error_code": CODE, "error": text}` with
//! `isError: true`; the CLI prints it on stderr. Codes are part of the public
//! contract: add new ones, never rename or reuse one.

use serde::Serialize;

/// A stable, machine-readable error code (SPEC §8).
///
/// Serialised in `SCREAMING_SNAKE_CASE`, e.g. `PAYLOAD_TOO_LARGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The caller is not bound to an agent, or a token did not match.
    AuthFailed,
    /// The caller's agent lacks the capability the tool needs.
    CapDenied,
    /// The name belongs to another agent and no valid token was given.
    NameTaken,
    /// The addressed object (message, channel, task, agent) does not exist.
    NotFound,
    /// The object to create exists already (e.g. a channel name).
    AlreadyExists,
    /// The caller is neither sender nor recipient of the object.
    NotParty,
    /// The caller is not a member of the channel.
    NotMember,
    /// An argument is malformed: bad name, empty content, unknown enum value.
    Validation,
    /// Content, title or a JSON-RPC line exceeds its configured limit.
    PayloadTooLarge,
    /// The object is in a state that does not allow the action.
    InvalidState,
    /// A fencing token older than the task's current one.
    StaleLease,
    /// The same idempotency key was reused with different content.
    IdempotencyConflict,
    /// A concurrent change won a compare-and-set race.
    Conflict,
    /// Too many calls in the rate-limit window.
    RateLimited,
    /// A webhook URL points at a private or loopback address.
    SsrfRefused,
    /// The store's schema is newer than this binary understands.
    SchemaMismatch,
    /// A relay process holds the store (restore refuses to run).
    DaemonRunning,
    /// The store file is not a SQLite database or fails its integrity check.
    CorruptStore,
    /// The store stayed locked past the busy timeout, or a wait ran out.
    Timeout,
    /// The disk (or quota) holding the store is full: nothing was stored.
    /// Reads keep working; free space and retry.
    StorageFull,
    /// An unexpected failure; the message says what happened.
    Internal,
}

impl ErrorCode {
    /// Every code, in catalog order.
    pub const ALL: [ErrorCode; 21] = [
        Self::AuthFailed,
        Self::CapDenied,
        Self::NameTaken,
        Self::NotFound,
        Self::AlreadyExists,
        Self::NotParty,
        Self::NotMember,
        Self::Validation,
        Self::PayloadTooLarge,
        Self::InvalidState,
        Self::StaleLease,
        Self::IdempotencyConflict,
        Self::Conflict,
        Self::RateLimited,
        Self::SsrfRefused,
        Self::SchemaMismatch,
        Self::DaemonRunning,
        Self::CorruptStore,
        Self::Timeout,
        Self::StorageFull,
        Self::Internal,
    ];

    /// The wire form, e.g. `"NOT_MEMBER"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailed => "AUTH_FAILED",
            Self::CapDenied => "CAP_DENIED",
            Self::NameTaken => "NAME_TAKEN",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::NotParty => "NOT_PARTY",
            Self::NotMember => "NOT_MEMBER",
            Self::Validation => "VALIDATION",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InvalidState => "INVALID_STATE",
            Self::StaleLease => "STALE_LEASE",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::SsrfRefused => "SSRF_REFUSED",
            Self::SchemaMismatch => "SCHEMA_MISMATCH",
            Self::DaemonRunning => "DAEMON_RUNNING",
            Self::CorruptStore => "CORRUPT_STORE",
            Self::Timeout => "TIMEOUT",
            Self::StorageFull => "STORAGE_FULL",
            Self::Internal => "INTERNAL",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The library's error: a stable code plus a message written for the
/// person (or model) who must act on it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What was wrong and what to do about it.
    pub message: String,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A [`ErrorCode::Validation`] error.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// A [`ErrorCode::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A [`ErrorCode::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// An I/O failure, `context` saying what was being done to which file:
    /// [`ErrorCode::StorageFull`] when the disk or quota is full (nothing
    /// was stored; free space and retry), [`ErrorCode::Internal`] otherwise.
    pub fn io(context: impl std::fmt::Display, err: std::io::Error) -> Self {
        if is_storage_full(&err) {
            Self::new(
                ErrorCode::StorageFull,
                format!("{context}: {err}; the disk is full, nothing was stored. Free space and retry"),
            )
        } else {
            Self::internal(format!("{context}: {err}"))
        }
    }

    /// The JSON body a failed tool call carries:
    /// `{"error_code": CODE, "error": message}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error_code": self.code, "error": self.message })
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as Sql;
        if let Some(carried) = carried_by(&err) {
            return carried;
        }
        match err.sqlite_error_code() {
            Some(Sql::DatabaseCorrupt | Sql::NotADatabase) => Error::new(
                ErrorCode::CorruptStore,
                format!("the store is corrupt or not a relay database: {err}"),
            ),
            Some(Sql::DatabaseBusy | Sql::DatabaseLocked) => Error::new(
                ErrorCode::Timeout,
                format!("the store stayed locked past the busy timeout: {err}"),
            ),
            Some(Sql::DiskFull) => Error::new(
                ErrorCode::StorageFull,
                "the disk holding the store is full; nothing was stored. Free space and retry",
            ),
            _ => Error::internal(format!("store error: {err}")),
        }
    }
}

/// Whether `err` says the disk or the user's quota is full (`ENOSPC`,
/// `EDQUOT`).
pub(crate) fn is_storage_full(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// An [`Error`] raised inside a SQL function (`relay_open` failing to
/// decrypt, see [`crate::crypto::register`]): SQLite carries it back as
/// a plain `SQLITE_ERROR` whose message is `CODE: text`.
fn carried_by(err: &rusqlite::Error) -> Option<Error> {
    let text = match err {
        rusqlite::Error::UserFunctionError(inner) => return inner.downcast_ref::<Error>().cloned(),
        rusqlite::Error::SqliteFailure(e, Some(text))
            if matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_ERROR | rusqlite::ffi::SQLITE_CONSTRAINT_FUNCTION
            ) =>
        {
            text
        }
        _ => return None,
    };
    let (code, message) = text.split_once(": ")?;
    let code = ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)?;
    Some(Error::new(code, message))
}
