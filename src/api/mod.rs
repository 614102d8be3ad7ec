//! The SQL functions.
pub(crate) mod classify;
mod info;
mod label_table;
mod trigger;
