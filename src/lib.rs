//! pg_zeroshot: zero-shot classification of Chinese text in SQL with an mT5 model run
//! in-process by ONNX Runtime. The engine (crates/zeroshot) knows nothing of Postgres;
//! this crate is settings, SQL functions, errors and the per-backend model.
use pgrx::prelude::*;

mod api;
mod backend;
mod disclosure;
mod error;
mod gucs;
mod model_slots;
mod paths;
mod pg_compat;
mod server_mode;
mod server_process;
mod server_worker;
mod text;

pgrx::pg_module_magic!();

// First of all: the schema the extension installs into is one only superusers can create
// objects in (pg_zeroshot.control fixes it: `zeroshot`).
extension_sql_file!("../sql/install_schema.sql", name = "install_schema", bootstrap);

// The backfill procedure and its run log, after the functions they call. (The extension's SQL
// is ASCII, so CREATE EXTENSION works in a database of any encoding: the control file names
// none, and no conversion of the script is needed. Every text is converted, src/text.rs.)
extension_sql_file!(
    "../sql/zs_label_table.sql",
    name = "zs_label_table",
    requires = [zs_classify_batch, zs_in_transaction_block]
);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // pgrx puts a Rust backtrace into an error's DETAIL when RUST_BACKTRACE is set in the
    // server's environment; clients must never see one. RUST_LIB_BACKTRACE takes precedence
    // for captured backtraces (panic messages in the server log are unaffected).
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    // ONNX Runtime's CPU arena hands its free regions back at the end of each call (the arena
    // shrink) and takes new ones on the next. glibc raises its mmap threshold to the size of
    // the largest mapped block freed, so from then on such regions come from the heap, where
    // one freed between live blocks returns nothing to the system: the backend's RSS crept up
    // call after call (tests/safety's label_sets_rss, 64 calls: +9 to +150 MiB, varying from
    // run to run). A fixed threshold keeps every block of 1 MiB or more in a mapping of its
    // own, returned to the system when freed. Postgres's own allocations that large are rare.
    // SAFETY: mallopt only sets a parameter of the allocator; it is called before any thread
    // of ours starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    gucs::init();
    // zs.server_autostart: the background worker that runs `zeroshot serve`.
    server_worker::register();
    // ONNX Runtime runs are stopped by a cancel, a statement_timeout or a terminate: the
    // engine polls this from its watcher thread (a read of flags the signal handlers set).
    zeroshot::interrupt::set_check(interrupt_pending);
}

/// Whether Postgres has a cancel or terminate pending for this backend, or the backend no
/// longer wants the model load under way (other settings, or it is exiting). Reads the flags that its signal
/// handlers set (volatile `sig_atomic_t`) and an atomic, so it is safe from any thread.
fn interrupt_pending() -> bool {
    backend::load_unwanted() || cancel_pending()
}

/// Whether Postgres has a cancel or terminate pending for this backend (and nothing else:
/// the backend's own wish to stop a load is not a cancel of its call).
pub(crate) fn cancel_pending() -> bool {
    // SAFETY: plain reads of sig_atomic_t globals.
    unsafe {
        std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::InterruptPending)) != 0
            && (std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::QueryCancelPending)) != 0
                || std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::ProcDiePending)) != 0)
    }
}
