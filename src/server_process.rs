//! The `zeroshot serve` process that the background worker (server_worker.rs) runs: its command
//! line from the settings, its start as a child that holds nothing of PostgreSQL's, whether it
//! answers yet, and its stop.
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use pgrx::prelude::*;

use crate::gucs;

/// The longest path a Unix socket address holds (sun_path, with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Options of `zeroshot serve` that zs.server_options may not give: the worker sets them from
/// settings of their own (and the backends connect to zs.server_socket), or they end the
/// program at once.
const RESERVED_OPTIONS: [&str; 7] =
    ["--socket", "--model-dir", "--onnxruntime-library", "--help", "-h", "--version", "-V"];

/// The server's program and arguments, as the worker's settings (the configuration file's
/// values) make them.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// How long the server may take to finish after SIGTERM: its own grace period for queued
    /// requests (`--shutdown-grace-s`) and a few seconds more.
    pub stop_timeout: Duration,
}

impl ServerCommand {
    /// From the settings; an error names the setting to fix.
    pub fn from_settings() -> Result<ServerCommand, String> {
        let socket = gucs::server_socket();
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(format!(
                "zs.server_socket: {} is longer than a Unix socket path may be ({MAX_SOCKET_PATH} bytes): give a shorter (absolute) path",
                socket.display()
            ));
        }
        let options = gucs::server_options();
        if let Some(bad) = options.iter().find(|o| RESERVED_OPTIONS.contains(&o.split('=').next().unwrap_or(o))) {
            return Err(format!("zs.server_options may not give {bad}: the worker sets it (zs.server_socket, zs.model_dir, zs.onnxruntime_library)"));
        }
        // The last --shutdown-grace-s given wins, as in the server's own parsing.
        let mut grace = 10;
        for (i, o) in options.iter().enumerate() {
            let value = match o.strip_prefix("--shutdown-grace-s") {
                Some("") => options.get(i + 1).map(String::as_str),
                Some(rest) => rest.strip_prefix('='),
                None => None,
            };
            if let Some(v) = value.and_then(|v| v.parse::<u64>().ok()) {
                grace = v;
            }
        }
        let (max_input_tokens, max_input_tokens_limit) = gucs::max_input_tokens();
        let mut args: Vec<OsString> = vec![
            "serve".into(),
            "--model-dir".into(),
            gucs::model_dir().into(),
            "--onnxruntime-library".into(),
            gucs::onnxruntime_library().into(),
            "--socket".into(),
            socket.into(),
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
            // HTTP clients on --listen get the configuration's limit; backends, the socket's
            // only clients (its folder is the data directory's), enforce their own session's
            // zs.max_input_tokens_limit before they send, so the socket allows the most any
            // session may be allowed.
            "--max-input-tokens-limit".into(),
            max_input_tokens_limit.to_string().into(),
            "--socket-max-input-tokens-limit".into(),
            gucs::MAX_INPUT_TOKENS_CEILING.to_string().into(),
            // The same for zs_generate's tokens (zs.max_new_tokens_limit).
            "--max-new-tokens-limit".into(),
            gucs::max_new_tokens_limit().to_string().into(),
            "--socket-max-new-tokens-limit".into(),
            gucs::MAX_NEW_TOKENS_CEILING.to_string().into(),
        ];
        if gucs::verify_checksums() {
            args.push("--verify-checksums".into());
        }
        args.extend(options.into_iter().map(OsString::from));
        Ok(ServerCommand { program: gucs::server_command(), args, stop_timeout: Duration::from_secs(grace + 5) })
    }

    fn describe(&self) -> String {
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        format!("{} {}", self.program.display(), args.join(" "))
    }
}

/// One start of the server.
pub struct Running {
    child: Child,
    pub stop_timeout: Duration,
    /// When its socket first accepted a connection (the model loaded).
    pub ready_since: Option<Instant>,
}

/// Marks every descriptor of this process from 3 up close-on-exec, so the server inherits none
/// of the postmaster's (its death-watch pipe, the log pipe's copies). Done in the worker, not
/// between fork and exec, where closing them would also close the pipe on which the standard
/// library reports a failed exec; the worker itself never execs anything else.
fn close_on_exec_from_3() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> =
        entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|&fd| fd >= 3).collect();
    for fd in fds {
        // SAFETY: fcntl on a descriptor number; one that closed meanwhile gives EBADF, ignored.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

pub fn start(command: &ServerCommand) -> std::io::Result<Running> {
    use std::os::unix::fs::PermissionsExt;
    // A program that is not there or not executable is said plainly, before any fork.
    let meta = std::fs::metadata(&command.program)?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "not an executable file"));
    }
    close_on_exec_from_3();
    let mut cmd = Command::new(&command.program);
    cmd.args(&command.args).stdin(std::process::Stdio::null());
    // stdout and stderr are the worker's: the server's messages go to PostgreSQL's log.
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid, setpgid,
    // sigprocmask, signal), and no allocation.
    unsafe {
        let worker = libc::getpid();
        cmd.pre_exec(move || {
            // The worker stops the server itself (SIGTERM, then a grace period); should the
            // worker end any other way (the postmaster's SIGQUIT in a crash restart), the server
            // is killed with it, so that the restarted worker's server finds the socket free.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != worker {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            // A process group of its own: the postmaster signals each child's group, and the
            // server's shutdown is the worker's to run (stop() signals the whole group).
            libc::setpgid(0, 0);
            // PostgreSQL blocks and ignores signals; an ignored one stays ignored across exec.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            for sig in 1..libc::SIGRTMIN() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::signal(sig, libc::SIG_DFL);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    log!("pg_zeroshot: started the zeroshot server (pid {}): {}", child.id(), command.describe());
    Ok(Running { child, stop_timeout: command.stop_timeout, ready_since: None })
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, once it has.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().ok()??;
        Some(exit_description(status))
    }

    /// Notes when the server first answers on its socket.
    pub fn check_ready(&mut self) {
        if self.ready_since.is_none() && std::os::unix::net::UnixStream::connect(gucs::server_socket()).is_ok() {
            self.ready_since = Some(Instant::now());
        }
    }

    /// SIGTERM to its process group, then SIGKILL if it has not finished within its stop
    /// timeout (a wrapper script's children are in the group too).
    pub fn stop(mut self) {
        let group = -(self.child.id() as libc::pid_t);
        // SAFETY: signals to our own child's group; the child is not reaped yet, so the
        // group id is still its.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + self.stop_timeout;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        warning!("pg_zeroshot: the zeroshot server did not stop within {} s; killing it", self.stop_timeout.as_secs());
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn exit_description(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        _ => status.to_string(),
    }
}
