//! How many processes of the server may hold a model at once (`zs.max_model_processes`),
//! counted across every backend and parallel worker of every database.
//!
//! Each model costs its process a full copy of the weights (about 3 GB at mT5-base in fp32),
//! and any role can open connections: without a bound, the kernel's OOM killer ends the
//! count, and PostgreSQL then restarts every session. The count needs no shared memory (so
//! no `shared_preload_libraries`): a process that holds a model holds an exclusive `flock`
//! on one of N slot files in `$PGDATA/pg_zeroshot/`. The kernel drops the lock when the
//! process exits, however it exits (SIGKILL included), so a slot can never leak.
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::ZsError;
use crate::gucs;
use crate::paths;

/// The automatic bound never goes past this many processes (the tiny test model would
/// allow thousands).
const AUTO_MAX: u64 = 1000;

thread_local! {
    /// The slot this process holds (its open, locked file), if any.
    static HELD: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// The folder of the slot files.
fn slot_dir() -> PathBuf {
    paths::data_dir().join("pg_zeroshot")
}

/// Takes a slot for this process, unless it holds one already. Past the bound: 53300 at
/// once, never a wait.
pub fn acquire(model_dir: &Path) -> Result<(), ZsError> {
    if HELD.with(|h| h.borrow().is_some()) {
        return Ok(());
    }
    let model_bytes = model_bytes(model_dir);
    let (limit, automatic) = limit_for(model_bytes);
    // The last slot of two or more is kept for superusers, as superuser_reserved_connections
    // keeps connections: a role that fills the others with idle sessions cannot lock out the
    // administrator (or a backfill a superuser runs).
    // SAFETY: reads the session's role; no side effect.
    let usable = if limit >= 2 && !unsafe { pgrx::pg_sys::superuser() } { limit - 1 } else { limit };
    let dir = slot_dir();
    let io = |action: &str, e: std::io::Error| ZsError::Slots { action: action.to_string(), message: e.to_string() };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| io("create the folder of model slots", e))?;
    for n in 0..usable {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(dir.join(format!("model.{n}.lock")))
            .map_err(|e| io("open a model slot", e))?;
        // SAFETY: flock on a descriptor we own; LOCK_NB never blocks.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            HELD.with(|h| *h.borrow_mut() = Some(file));
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io("lock a model slot", e));
        }
    }
    Err(ZsError::ModelProcessesFull { limit, usable, automatic, model_mb: model_bytes >> 20 })
}

/// Gives the slot back (the model it was for is gone).
pub fn release() {
    // Closing the file drops its lock.
    HELD.with(|h| h.borrow_mut().take());
}

/// zs.max_model_processes, or the automatic bound for `model_dir` when it is -1: half of
/// the memory this server may use, divided by the size of the model's files, at least 1.
pub fn limit(model_dir: &Path) -> (u64, bool) {
    limit_for(model_bytes(model_dir))
}

/// `limit` for a model whose files take `model_bytes` (the caller reads the size once: the
/// refusal's message names it too).
fn limit_for(model_bytes: u64) -> (u64, bool) {
    match gucs::max_model_processes() {
        Some(n) => (n, false),
        None => ((memory_bytes() / 2 / model_bytes.max(1)).clamp(1, AUTO_MAX), true),
    }
}

/// The size of the model's files a process may load: what one process's copy of the weights
/// takes at most (the tree graph and the step graphs, which greedy mode and generation open
/// beside it), or more (ORT-format copies). decoder_model.onnx is left out where the
/// cross-attention graph is there: the engine never loads it then.
fn model_bytes(model_dir: &Path) -> u64 {
    use zeroshot::graphs::{CROSS_KV_FILE, DECODER_FILE};
    let Ok(entries) = std::fs::read_dir(model_dir) else { return 0 };
    let skip_decoder = model_dir.join(CROSS_KV_FILE).is_file();
    entries
        .filter_map(|e| e.ok())
        .filter(|e| !(skip_decoder && e.file_name() == DECODER_FILE))
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// The machine's memory, or the memory limit of the server's cgroup when it is lower (a
/// container).
fn memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(u64::MAX, |kb| kb.saturating_mul(1024));
    total.min(cgroup_limit().unwrap_or(u64::MAX))
}

/// The memory limit of this process's cgroup (v2: memory.max; v1: memory.limit_in_bytes).
fn cgroup_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |p: PathBuf| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (hierarchy, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if hierarchy == "0" && controllers.is_empty() {
            if let Some(limit) = read(Path::new("/sys/fs/cgroup").join(path).join("memory.max")) {
                return Some(limit);
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            if let Some(limit) = read(Path::new("/sys/fs/cgroup/memory").join(path).join("memory.limit_in_bytes")) {
                return Some(limit);
            }
        }
    }
    None
}
