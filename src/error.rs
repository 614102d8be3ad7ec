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
}

impl ZsError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        let kind = match self {
            ZsError::Engine(e) | ZsError::Load { source: e, .. } => e.kind(),
            ZsError::NullLabel { .. } => return PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        };
        match kind {
            ErrorKind::InvalidParameter | ErrorKind::InvalidModel => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            ErrorKind::ProgramLimit => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            ErrorKind::UndefinedFile => PgSqlErrorCode::ERRCODE_UNDEFINED_FILE,
            ErrorKind::DeviceUnavailable => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            ErrorKind::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        let engine = match self {
            ZsError::Engine(e) | ZsError::Load { source: e, .. } => e,
            _ => return None,
        };
        match engine {
            zeroshot::Error::TooManyLabels { .. } => Some("Use fewer or shorter labels, or raise zs.max_input_tokens."),
            zeroshot::Error::InvalidLabel { .. } | zeroshot::Error::DuplicateLabel { .. } => {
                Some("Labels must be distinct, non-blank, and free of commas and line breaks.")
            }
            _ => None,
        }
    }

    /// Raises the error in Postgres (does not return).
    pub fn report(self) -> ! {
        let mut report = ErrorReport::new(self.sqlstate(), format!("pg_zeroshot: {self}"), "pg_zeroshot");
        if let Some(hint) = self.hint() {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
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
