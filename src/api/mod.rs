//! The SQL functions.
mod classify;
mod info;
mod label_table;
