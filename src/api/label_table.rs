//! What the zs_label_table procedure (sql/zs_label_table.sql) cannot ask in PL/pgSQL.
use pgrx::prelude::*;

/// Whether the current statement runs inside a transaction block: after BEGIN, or as one of
/// several statements sent in one query string. zs_label_table commits after each batch and
/// cannot do so there; it asks first, to refuse with 25001 and a clear message before any work.
#[pg_extern(volatile, parallel_restricted)]
fn zs_in_transaction_block() -> bool {
    // SAFETY: reads the backend's transaction state; no side effect.
    unsafe { pg_sys::IsTransactionBlock() }
}
