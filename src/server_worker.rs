//! zs.server_autostart: a background worker that runs `zeroshot serve` on a socket in the data
//! directory, restarts it with backoff when it exits, and stops it with the postmaster.
//!
//! The server is a child of this worker that execs the zeroshot program: it holds none of
//! PostgreSQL's shared memory, and the postmaster never waits for it (it is not the
//! postmaster's child), so a crash of the server fails the statements that were waiting on it
//! and gets it restarted here; PostgreSQL itself never restarts for it.
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, BgWorkerStartTime, SignalWakeFlags};
use pgrx::prelude::*;

use crate::gucs;

/// Set in the postmaster when it registers the worker. Backends are forked from it, so they
/// read the postmaster's value: whether a server was started for them.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// The first wait before a restart, doubled after each quick exit up to the last.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A server that ran this long before it exited is restarted after FIRST_BACKOFF again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How long the server may take to finish after SIGTERM before it is killed: its own grace
/// period for queued requests (`--shutdown-grace-s`, 10 s by default) and a little more.
const STOP_TIMEOUT: Duration = Duration::from_secs(12);

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
    if gucs::server_autostart_placeholder() {
        return Some(Err(
            "zs.server_autostart is on, but pg_zeroshot is not in shared_preload_libraries, so no server was started"
                .into(),
        ));
    }
    None
}

/// The program and arguments of the server, from the settings as the worker sees them (the
/// configuration file's values).
fn server_command() -> (std::path::PathBuf, Vec<OsString>) {
    let (max_input_tokens, max_input_tokens_limit) = gucs::max_input_tokens();
    let mut args: Vec<OsString> = vec![
        "serve".into(),
        "--model-dir".into(),
        gucs::model_dir().into(),
        "--onnxruntime-library".into(),
        gucs::onnxruntime_library().into(),
        "--socket".into(),
        gucs::server_socket().into(),
        "--device".into(),
        gucs::device_setting_name().into(),
        "--cuda-device-id".into(),
        gucs::cuda_device_id().to_string().into(),
        "--cuda-tf32".into(),
        gucs::cuda_tf32().to_string().into(),
        "--cuda-mem-limit".into(),
        (gucs::cuda_mem_limit() >> 20).to_string().into(),
        "--threads".into(),
        gucs::threads().to_string().into(),
        "--max-input-tokens".into(),
        max_input_tokens.min(max_input_tokens_limit).to_string().into(),
        // Each session's own zs.max_input_tokens_limit is enforced by its backend before a
        // request is sent (a superuser may raise it for a session); the server, reachable only
        // by this operating-system user, allows the most any session may be allowed.
        // zs.server_options can lower it for HTTP clients on --listen (a later argument wins).
        "--max-input-tokens-limit".into(),
        gucs::MAX_INPUT_TOKENS_CEILING.to_string().into(),
    ];
    if gucs::verify_checksums() {
        args.push("--verify-checksums".into());
    }
    args.extend(gucs::server_options().into_iter().map(OsString::from));
    (gucs::server_command(), args)
}

/// One start of the server.
struct Running {
    child: Child,
    started: Instant,
}

fn start(command: &(std::path::PathBuf, Vec<OsString>)) -> std::io::Result<Running> {
    let mut cmd = Command::new(&command.0);
    cmd.args(&command.1).stdin(std::process::Stdio::null());
    // stdout and stderr are the worker's: the server's messages go to PostgreSQL's log.
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, sigprocmask,
    // signal, syscall).
    unsafe {
        let worker = libc::getpid();
        cmd.pre_exec(move || {
            // The worker stops the server itself (SIGTERM, then a grace period); should the
            // worker end any other way (the postmaster's SIGQUIT in a crash restart), the server
            // is killed with it, so that the restarted worker's server finds the socket free.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != worker {
                return Err(std::io::Error::other("the worker exited while the server started"));
            }
            // A process group of its own: the postmaster signals each child's group, and the
            // server's shutdown is the worker's to run.
            libc::setpgid(0, 0);
            // Descriptors the worker inherited from the postmaster (its death-watch pipe, the
            // log pipe's other copies) are not the server's.
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            // PostgreSQL blocks and ignores signals the server must see.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGQUIT,
                libc::SIGPIPE,
                libc::SIGUSR1,
                libc::SIGUSR2,
                libc::SIGCHLD,
            ] {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    log!("pg_zeroshot: started the zeroshot server (pid {}): {}", child.id(), describe(command));
    Ok(Running { child, started: Instant::now() })
}

fn describe(command: &(std::path::PathBuf, Vec<OsString>)) -> String {
    let args: Vec<_> = command.1.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    format!("{} {}", command.0.display(), args.join(" "))
}

fn exit_description(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}

/// SIGTERM, then SIGKILL if it has not finished within STOP_TIMEOUT.
fn stop(mut running: Running) {
    // SAFETY: a signal to our own child, which has not been reaped (so its pid is still ours).
    unsafe { libc::kill(running.child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        match running.child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    warning!("pg_zeroshot: the zeroshot server did not stop within {} s; killing it", STOP_TIMEOUT.as_secs());
    let _ = running.child.kill();
    let _ = running.child.wait();
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
    let mut last_command = None;
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the worker's main thread, outside any transaction, as the postmaster's
            // other processes do on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            let command = server_command();
            if last_command.as_ref() != Some(&command) {
                // New settings (a fixed model folder, say) are tried at once.
                if let Some(r) = running.take() {
                    log!("pg_zeroshot: the server's settings changed; restarting it");
                    stop(r);
                }
                next_start = Instant::now();
                backoff = FIRST_BACKOFF;
            }
        }
        if let Some(r) = running.as_mut() {
            if let Ok(Some(status)) = r.child.try_wait() {
                backoff = if r.started.elapsed() >= HEALTHY_RUN { FIRST_BACKOFF } else { backoff };
                warning!(
                    "pg_zeroshot: the zeroshot server (pid {}) ended with {}; restarting it in {} s",
                    r.child.id(),
                    exit_description(status),
                    backoff.as_secs()
                );
                next_start = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                running = None;
            }
        }
        if running.is_none() && Instant::now() >= next_start {
            let command = server_command();
            let started = start(&command);
            last_command = Some(command);
            match started {
                Ok(r) => running = Some(r),
                Err(e) => {
                    warning!(
                        "pg_zeroshot: cannot start the zeroshot server ({}): {e}; trying again in {} s",
                        gucs::server_command().display(),
                        backoff.as_secs()
                    );
                    next_start = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        // SIGCHLD sets the latch, so an exit is seen at once; the timeout is a safety net.
        let wait = if running.is_some() {
            Duration::from_secs(1)
        } else {
            next_start.saturating_duration_since(Instant::now()).max(Duration::from_millis(10))
        };
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
    }
    if let Some(r) = running {
        stop(r);
    }
    log!("pg_zeroshot: the zeroshot server worker stopped");
}
