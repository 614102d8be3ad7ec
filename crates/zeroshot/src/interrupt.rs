//! Stopping work when the caller asks (a Postgres cancel, `statement_timeout`, a terminate).
//!
//! The caller installs one check for the process (`set_check`): a function that says whether
//! the work should stop, safe to call from any thread (the extension reads the backend's
//! pending-interrupt flags). The engine polls it between units of work on the calling thread
//! (`pending`), and an ONNX Runtime run, which cannot poll, is watched by one thread per
//! process that terminates the run through its run options when the check fires
//! (`watched`). A terminated run returns an error, which `watched` turns into
//! `Error::Interrupted`, so a long run stops within about `POLL` of the request.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};

/// How often the watcher asks the check while a run is under way.
const POLL: Duration = Duration::from_millis(10);

type Check = Arc<dyn Fn() -> bool + Send + Sync>;

static CHECK: OnceLock<Check> = OnceLock::new();

/// Installs the process's interrupt check; the first call wins (one caller per process).
pub fn set_check(check: impl Fn() -> bool + Send + Sync + 'static) {
    let _ = CHECK.set(Arc::new(check));
}

/// Set while `ignoring` runs cleanup that must finish even after a cancel: the watcher
/// thread reads it too, so it is a process-wide flag, not a thread-local one.
static IGNORING: AtomicBool = AtomicBool::new(false);

/// Whether the caller asked to stop.
pub fn pending() -> bool {
    !IGNORING.load(Ordering::Relaxed) && CHECK.get().is_some_and(|check| check())
}

/// Runs `f` as if no stop were asked: for short cleanup after a cancel (returning memory), so
/// that the request that ended the work does not also stop its cleanup. The request itself
/// stays pending for the caller to act on after.
pub fn ignoring<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IGNORING.store(self.0, Ordering::Relaxed);
        }
    }
    let _restore = Restore(IGNORING.swap(true, Ordering::Relaxed));
    f()
}

/// `Err(Interrupted)` if the caller asked to stop.
pub fn check() -> Result<()> {
    if pending() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Something the watcher can stop: ONNX Runtime's run options.
pub(crate) trait Terminate {
    fn terminate(&self);
}

impl<O: ort::session::SelectedOutputMarker> Terminate for ort::session::RunOptions<O> {
    fn terminate(&self) {
        // Only fails if ONNX Runtime is gone; the run then ends on its own.
        let _ = ort::session::RunOptions::terminate(self);
    }
}

/// The run being watched: a pointer to its run options, valid while it is in the slot.
struct Active(*const (dyn Terminate + 'static));

// SAFETY: the pointee is only used to set ONNX Runtime's terminate flag, which the C API
// documents as safe from another thread during a run; `watched` empties the slot (under the
// lock) before the run options can be dropped.
unsafe impl Send for Active {}

struct Watcher {
    slot: Mutex<Option<Active>>,
    wake: Condvar,
}

fn watcher() -> &'static Watcher {
    static WATCHER: OnceLock<&'static Watcher> = OnceLock::new();
    WATCHER.get_or_init(|| {
        let w: &'static Watcher = Box::leak(Box::new(Watcher { slot: Mutex::new(None), wake: Condvar::new() }));
        without_signals(|| {
            std::thread::Builder::new()
                .name("zeroshot-interrupt".into())
                .spawn(move || watch(w))
                .expect("start the interrupt watcher thread")
        });
        w
    })
}

/// Runs `f` with every signal blocked in the calling thread, so that threads it starts (the
/// watcher, ONNX Runtime's thread pools) inherit a full mask: the host's signal handlers (a
/// Postgres backend's) then always run on the host's own thread.
pub fn without_signals<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the thread's mask however `f` ends.
    struct Restore(libc::sigset_t);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores the mask saved below.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
        }
    }
    // SAFETY: plain calls on sigset_t values owned here.
    let _restore = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        Restore(old)
    };
    f()
}

/// The watcher's loop: sleeps until a run starts, then polls the check until it ends.
fn watch(w: &'static Watcher) {
    let mut slot = w.slot.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        while slot.is_none() {
            slot = w.wake.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(Active(run)) = slot.as_ref() {
            if pending() {
                // SAFETY: see `Active`; the slot is locked, so the run options are alive.
                unsafe { (**run).terminate() };
            }
        }
        slot = w.wake.wait_timeout(slot, POLL).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Runs `run` (one ONNX Runtime run under `options`) while the watcher may terminate it.
/// Without an installed check this is just `run()`.
pub(crate) fn watched<T>(
    options: &(dyn Terminate + 'static),
    run: impl FnOnce() -> std::result::Result<T, ort::Error>,
    what: impl FnOnce() -> String,
) -> Result<T> {
    if CHECK.get().is_none() {
        return run().map_err(|e| Error::runtime(what(), e));
    }
    check()?;
    let w = watcher();
    *w.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Active(options as *const _));
    w.wake.notify_one();
    // Empties the slot however `run` ends, a panic included: the run options it points to are
    // dropped right after, and the watcher must never see them again.
    struct Clear(&'static Watcher);
    impl Drop for Clear {
        fn drop(&mut self) {
            *self.0.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
    let clear = Clear(w);
    let result = run();
    drop(clear);
    match result {
        Ok(v) => Ok(v),
        // A run the watcher terminated fails with ONNX Runtime's "terminate flag" error.
        Err(_) if pending() => Err(Error::Interrupted),
        Err(e) => Err(Error::runtime(what(), e)),
    }
}
