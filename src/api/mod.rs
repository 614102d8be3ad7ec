//! The SQL functions.
mod classify;
mod info;
