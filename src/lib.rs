//! pg_zeroshot: zero-shot classification of Chinese text in SQL with an mT5 model run
//! in-process by ONNX Runtime. The engine (crates/zeroshot) knows nothing of Postgres;
//! this crate is settings, SQL functions, errors and the per-backend model.
use pgrx::prelude::*;

mod api;
mod backend;
mod error;
mod gucs;

pgrx::pg_module_magic!();

// The backfill procedure and its run log, after the functions they call.
extension_sql_file!(
    "../sql/zs_label_table.sql",
    name = "zs_label_table",
    requires = [zs_classify_batch, zs_in_transaction_block]
);
// Last, after the functions it calls.
extension_sql_file!("../sql/zs_label_trigger.sql", name = "zs_label_trigger", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}
