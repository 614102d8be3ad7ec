//! The extension's one error type, and its SQLSTATEs. Engine errors carry a kind; this is
//! the only place that turns kinds into Postgres error codes.
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use zeroshot::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ZsError {
    #[error("{0}")]
    Engine(#[from] zeroshot::Error),
    /// Loading failed; `setting` is the one that names what failed.
    #[error("{source} (check {setting})")]
    Load { setting: &'static str, source: zeroshot::Error },
    #[error("label {position} is NULL")]
    NullLabel { position: usize },
    #[error("{name} is NULL")]
    NullArgument { name: &'static str },
    #[error("{name} must not be negative, got {value}")]
    NegativeArgument { name: &'static str, value: i64 },
    #[error("{setting} = {value} is over {limit_setting} = {limit}")]
    SettingOverLimit { setting: &'static str, value: i64, limit_setting: &'static str, limit: i64 },
    #[error(
        "the label array ({labels} labels, {bytes} bytes) cannot fit in max_input_tokens = {max} tokens \
         together with the prompt"
    )]
    LabelArrayTooLarge { labels: usize, bytes: usize, max: usize },
    #[error("the aliases object ({bytes} bytes stored) is larger than any that fits in the prompt ({max} bytes)")]
    JsonTooLarge { bytes: usize, max: usize },
    #[error("a text is not valid UTF-8 after conversion from the database encoding")]
    NotUtf8,
    /// zs.max_model_processes processes of the server hold a model already.
    #[error(
        "this server lets {limit} process(es) at a time hold a model (zs.max_model_processes{}){}, and that many do",
        if *automatic { format!(" automatic: half the memory divided by this model's {model_mb} MB") } else { format!(" = {limit}") },
        if usable < limit { format!(", {usable} of them for roles that are not superusers") } else { String::new() }
    )]
    ModelProcessesFull { limit: u64, usable: u64, automatic: bool, model_mb: u64 },
    #[error("could not {action}: {message}")]
    Slots { action: String, message: String },
    /// zs.server (or its token file) cannot be used.
    #[error("zs.server: {reason}")]
    ServerSetting { reason: String },
    #[error("cannot reach the zeroshot server: {message}")]
    ServerUnreachable { message: String },
    #[error("the zeroshot server stopped answering mid-request: {message}")]
    ServerDisconnected { message: String },
    #[error("the zeroshot server is overloaded: {message}")]
    ServerBusy { message: String },
    #[error("the zeroshot server answered what this backend cannot read: {message}")]
    ServerProtocol { message: String },
    /// The server refused the request as the engine would have in-process.
    #[error("{message}")]
    Server { kind: ErrorKind, message: String, about_labels: bool },
}

/// The hint of every error for a label set that does not fit in a prompt.
const LABELS_TOO_LARGE: &str =
    "Use fewer or shorter labels, or raise zs.max_input_tokens (up to zs.max_input_tokens_limit).";

/// The hint of every error for a label refused as it is.
const LABELS_INVALID: &str =
    "Labels must be distinct to the model's tokenizer, visible, and free of the separator, line breaks and special tokens.";

impl ZsError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        let kind = match self {
            ZsError::Engine(e) | ZsError::Load { source: e, .. } => e.kind(),
            ZsError::NullLabel { .. } | ZsError::NullArgument { .. } => {
                return PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED
            }
            ZsError::NegativeArgument { .. } => return PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ZsError::SettingOverLimit { .. } => return PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ZsError::NotUtf8 => return PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
            ZsError::LabelArrayTooLarge { .. } | ZsError::JsonTooLarge { .. } => {
                return PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED
            }
            ZsError::ModelProcessesFull { .. } => return PgSqlErrorCode::ERRCODE_TOO_MANY_CONNECTIONS,
            ZsError::Slots { .. } => return PgSqlErrorCode::ERRCODE_IO_ERROR,
            ZsError::ServerSetting { .. } => return PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ZsError::ServerUnreachable { .. } => {
                return PgSqlErrorCode::ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
            }
            ZsError::ServerDisconnected { .. } => return PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE,
            ZsError::ServerBusy { .. } => return PgSqlErrorCode::ERRCODE_INSUFFICIENT_RESOURCES,
            ZsError::ServerProtocol { .. } => return PgSqlErrorCode::ERRCODE_PROTOCOL_VIOLATION,
            ZsError::Server { kind, .. } => *kind,
        };
        match kind {
            ErrorKind::InvalidParameter | ErrorKind::InvalidModel => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ErrorKind::ProgramLimit => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            ErrorKind::UndefinedFile => PgSqlErrorCode::ERRCODE_UNDEFINED_FILE,
            ErrorKind::DeviceUnavailable => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            ErrorKind::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            ErrorKind::Interrupted => PgSqlErrorCode::ERRCODE_QUERY_CANCELED,
            ErrorKind::OutOfMemory => PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        let engine = match self {
            ZsError::Engine(e) | ZsError::Load { source: e, .. } => e,
            ZsError::SettingOverLimit { .. } => return Some("Only a superuser can raise the limit."),
            ZsError::ModelProcessesFull { .. } => {
                return Some(
                    "Each process that classifies holds its own copy of the model. Classify from fewer connections at once \
                     (a pooler such as PgBouncer reuses them), or end idle sessions that have classified; an administrator \
                     can raise zs.max_model_processes if the memory allows.",
                )
            }
            ZsError::LabelArrayTooLarge { .. } | ZsError::JsonTooLarge { .. } => return Some(LABELS_TOO_LARGE),
            ZsError::ServerUnreachable { .. } => {
                return Some(
                    "Start `zeroshot serve` on the address in zs.server (README, \"One model per server\"); with zs.server_autostart, the background worker is starting it again (the server log says why it stopped).",
                )
            }
            ZsError::ServerDisconnected { .. } => {
                return Some("The server stopped or crashed; the next call works once it is back.")
            }
            ZsError::ServerBusy { .. } => return Some("Its queue is full: retry later, or send fewer texts at once."),
            ZsError::Server { about_labels: true, .. } => return Some(LABELS_INVALID),
            ZsError::Server { kind: ErrorKind::ProgramLimit, .. } => {
                return Some(
                    LABELS_TOO_LARGE,
                )
            }
            _ => return None,
        };
        match engine {
            zeroshot::Error::TooManyLabels { .. } | zeroshot::Error::LabelSetTooLarge { .. } => {
                Some(LABELS_TOO_LARGE)
            }
            e if e.kind() == ErrorKind::OutOfMemory => Some(
                "Score fewer texts or labels per call, or lower zs.batch_rows or zs.max_input_tokens; on CUDA, see zs.cuda_mem_limit.",
            ),
            zeroshot::Error::InvalidLabel { .. }
            | zeroshot::Error::DuplicateLabel { .. }
            | zeroshot::Error::SameTokens { .. } => Some(LABELS_INVALID),
            _ => None,
        }
    }

    /// Raises the error in Postgres (does not return). A cancel that stopped the engine is
    /// raised by Postgres itself (57014, or the end of the session for a terminate).
    pub fn report(self) -> ! {
        if matches!(&self, ZsError::Engine(e) | ZsError::Load { source: e, .. } if e.kind() == ErrorKind::Interrupted) {
            pgrx::check_for_interrupts!();
        }
        // Paths in the message are the server's: hidden from roles that may not see them.
        let message = crate::text::message_for_server(crate::disclosure::hide_paths(format!("pg_zeroshot: {self}")));
        let mut report = ErrorReport::new(self.sqlstate(), message, "pg_zeroshot");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// Raises an error that is not a ZsError (a trigger's misuse, a refused key or lock), with the
/// extension's prefix, in the database encoding.
pub fn raise(code: PgSqlErrorCode, message: String) -> ! {
    pgrx::ereport!(PgLogLevel::ERROR, code, crate::text::message_for_server(format!("pg_zeroshot: {message}")));
    unreachable!("an ERROR report does not return")
}

/// An integer argument as a count: 22023 (naming it) when negative.
pub fn non_negative(value: i32, name: &'static str) -> Result<usize, ZsError> {
    usize::try_from(value).map_err(|_| ZsError::NegativeArgument { name, value: value as i64 })
}

/// Unwraps or raises: the SQL functions' one way out with an error.
pub trait OrReport<T> {
    fn or_report(self) -> T;
}

impl<T, E: Into<ZsError>> OrReport<T> for Result<T, E> {
    fn or_report(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().report(),
        }
    }
}
