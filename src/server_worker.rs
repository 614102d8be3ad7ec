//! zs.server_autostart: a background worker that runs `zeroshot serve` on a socket in the data
//! directory, restarts it with backoff when it exits, and stops it with the postmaster.
//!
//! The server is a child of this worker that execs the zeroshot program: it holds none of
//! PostgreSQL's shared memory, and the postmaster never waits for it (it is not the
//! postmaster's child), so a crash of the server fails the statements that were waiting on it
//! and gets it restarted here; PostgreSQL itself never restarts for it.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

use crate::gucs;
use crate::server_process::{self, Running, ServerCommand};

/// Set in the postmaster when it registers the worker. Backends are forked from it, so they
/// read the postmaster's value: whether a server was started for them.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The first wait before a restart, doubled after each quick exit up to the last.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server that answered this long before it exited is restarted after FIRST_BACKOFF again
/// (counted from its first answer: a server that takes a minute to load and then fails is not
/// a healthy one).
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The wait before the next start, doubling the one after it (up to MAX_BACKOFF).
fn take_backoff(backoff: &mut Duration) -> Duration {
    let wait = *backoff;
    *backoff = (wait * 2).min(MAX_BACKOFF);
    wait
}

/// Registers the worker, from `_PG_init` in the postmaster (shared_preload_libraries), when
/// zs.server_autostart is on.
pub fn register() {
    // SAFETY: a plain read of a flag the postmaster sets while it loads preloaded libraries.
    let preloading = unsafe { pg_sys::process_shared_preload_libraries_in_progress };
    if !preloading || !gucs::server_autostart() {
        return;
    }
    BackgroundWorkerBuilder::new("pg_zeroshot server")
        .set_type("pg_zeroshot server")
        .set_library("pg_zeroshot")
        .set_function("zs_server_worker_main")
        .set_start_time(BgWorkerStartTime::PostmasterStart)
        // The worker itself exits only on an error of its own; the server it runs is restarted
        // by the worker's loop, with a backoff of its own.
        .set_restart_time(Some(Duration::from_secs(5)))
        .load();
    REGISTERED.store(true, Ordering::Relaxed);
}

/// The address a backend uses when zs.server is empty: the started server's socket, None when
/// zs.server_autostart is off, an error when it is on but no worker was registered.
pub fn started_server_address() -> Option<Result<String, String>> {
    if REGISTERED.load(Ordering::Relaxed) {
        return Some(Ok(format!("unix:{}", gucs::server_socket().display())));
    }
    // Not silently a model in every backend: the administrator asked for one server.
    if gucs::server_autostart() {
        return Some(Err(
            "zs.server_autostart is on, but pg_zeroshot is not in shared_preload_libraries, so no server was started"
                .into(),
        ));
    }
    None
}

/// The worker's loop: start the server, watch it, restart it after a backoff when it exits,
/// restart it when a reload changed its command, stop it on SIGTERM or the postmaster's death.
#[pg_guard]
#[no_mangle]
pub extern "C-unwind" fn zs_server_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(
        SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM | SignalWakeFlags::SIGCHLD,
    );
    let socket = gucs::server_socket();
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            warning!("pg_zeroshot: cannot create {}: {e}", dir.display());
        }
    }
    let mut running: Option<Running> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut next_start = Instant::now();
    let mut last_command: Option<Result<ServerCommand, String>> = None;
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the worker's main thread, outside any transaction, as the postmaster's
            // other processes do on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            if last_command.as_ref() != Some(&ServerCommand::from_settings()) {
                // New settings (a fixed model folder, say) are tried at once.
                if let Some(r) = running.take() {
                    log!("pg_zeroshot: the server's settings changed; restarting it");
                    r.stop();
                }
                next_start = Instant::now();
                backoff = FIRST_BACKOFF;
            }
        }
        if let Some(r) = running.as_mut() {
            r.check_ready();
            if let Some(how) = r.exited() {
                if r.ready_since.is_some_and(|t| t.elapsed() >= HEALTHY_RUN) {
                    backoff = FIRST_BACKOFF;
                }
                let wait = take_backoff(&mut backoff);
                warning!(
                    "pg_zeroshot: the zeroshot server (pid {}) ended with {how}; restarting it in {} s",
                    r.pid(),
                    wait.as_secs()
                );
                next_start = Instant::now() + wait;
                running = None;
            }
        }
        if running.is_none() && Instant::now() >= next_start {
            // A SIGTERM that came while a reload stopped the server: no new one.
            if BackgroundWorker::sigterm_received() {
                break;
            }
            let command = ServerCommand::from_settings();
            let started = match &command {
                Ok(c) => server_process::start(c).map_err(|e| format!("{}: {e}", c.program.display())),
                Err(reason) => Err(reason.clone()),
            };
            last_command = Some(command);
            match started {
                Ok(r) => running = Some(r),
                Err(reason) => {
                    let wait = take_backoff(&mut backoff);
                    warning!(
                        "pg_zeroshot: cannot start the zeroshot server: {reason}; trying again in {} s",
                        wait.as_secs()
                    );
                    next_start = Instant::now() + wait;
                }
            }
        }
        // SIGCHLD sets the latch, so an exit is seen at once; until the server answers, its
        // socket is tried every 100 ms.
        let wait = match &running {
            Some(r) if r.ready_since.is_none() => Duration::from_millis(100),
            Some(_) => Duration::from_secs(1),
            None => next_start.saturating_duration_since(Instant::now()).max(Duration::from_millis(10)),
        };
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
    }
    if let Some(r) = running {
        r.stop();
    }
    log!("pg_zeroshot: the zeroshot server worker stopped");
    // Exit code 1, never 0: PostgreSQL forgets a worker that exits with 0, so one stopped by a
    // stray SIGTERM (a kill of its pid) would never run again. In a shutdown the postmaster
    // restarts nothing anyway.
    // SAFETY: ends this process as PostgreSQL's own exits do.
    unsafe { pg_sys::proc_exit(1) };
}
