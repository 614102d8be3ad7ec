//! The SQL functions.
pub(crate) mod classify;
mod info;
mod trigger;
