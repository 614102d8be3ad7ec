//! `zeroshot serve`: load the model once and answer HTTP (zeroshot-server), for database
//! backends on a Unix socket and for HTTP clients on TCP.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use zeroshot_server::ServeConfig;

use crate::ModelArgs;

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Unix socket to listen on (file mode 0660), for database backends (zs.server = 'unix:PATH').
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// TCP address to listen on, e.g. 127.0.0.1:7860; any address but loopback needs --token-file.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// File whose first line is the bearer token every TCP request must carry.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The longest prompt a request may ask for (zs.max_input_tokens_limit's counterpart).
    #[arg(long, default_value_t = 2048)]
    pub max_input_tokens_limit: usize,
    /// Another limit for requests on the Unix socket (default: --max-input-tokens-limit); the
    /// database's background worker gives the socket the most a session may be allowed.
    #[arg(long)]
    pub socket_max_input_tokens_limit: Option<usize>,
    /// The most tokens a /v1/generate request may generate in all, n x max_new_tokens
    /// (zs.max_new_tokens_limit's counterpart).
    #[arg(long, default_value_t = 4096)]
    pub max_new_tokens_limit: usize,
    /// Another limit for generations asked on the Unix socket (default: --max-new-tokens-limit),
    /// as --socket-max-input-tokens-limit.
    #[arg(long)]
    pub socket_max_new_tokens_limit: Option<usize>,
    /// How long the oldest request of a batch waits for others with the same labels, in ms.
    #[arg(long, default_value_t = 5)]
    pub max_wait_ms: u64,
    /// Most texts in one batch.
    #[arg(long, default_value_t = 64)]
    pub max_batch_texts: usize,
    /// Most texts waiting at once; past it requests get 503 with Retry-After.
    #[arg(long, default_value_t = 4096)]
    pub max_queue_texts: usize,
    /// Most texts in one request.
    #[arg(long, default_value_t = 4096)]
    pub max_texts_per_request: usize,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 16)]
    pub max_body_mb: usize,
    /// Seconds a client has to send its request headers.
    #[arg(long, default_value_t = 10)]
    pub header_timeout_s: u64,
    /// Seconds a client has to send its request body.
    #[arg(long, default_value_t = 30)]
    pub body_timeout_s: u64,
    /// After SIGTERM: seconds queued and running requests may still take.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace_s: u64,
}

fn read_token(path: &PathBuf) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--token-file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.len() < 16 || token.contains(char::is_whitespace) {
        return Err(format!(
            "--token-file {}: the token must be one line of at least 16 characters, no blanks",
            path.display()
        ));
    }
    Ok(token)
}

pub fn config(args: &ServeArgs) -> Result<ServeConfig, String> {
    if args.socket.is_none() && args.listen.is_none() {
        return Err("give --socket PATH, --listen ADDR:PORT, or both".into());
    }
    if let Some(path) = &args.socket {
        // Checked before the model takes seconds to load (the bind would fail after it).
        if path.as_os_str().len() > 107 {
            return Err(format!("--socket {}: longer than a Unix socket path may be (107 bytes)", path.display()));
        }
    }
    let token = args.token_file.as_ref().map(read_token).transpose()?;
    if let Some(addr) = args.listen {
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(format!("--listen {addr} is not a loopback address: give --token-file too"));
        }
    }
    let defaults = args.model.score_options().map_err(|e| e.to_string())?;
    if defaults.max_input_tokens > args.max_input_tokens_limit {
        return Err(format!(
            "--max-input-tokens {} is over --max-input-tokens-limit {}",
            defaults.max_input_tokens, args.max_input_tokens_limit
        ));
    }
    Ok(ServeConfig {
        socket: args.socket.clone(),
        listen: args.listen,
        token,
        defaults,
        max_input_tokens_limit: args.max_input_tokens_limit,
        socket_max_input_tokens_limit: args.socket_max_input_tokens_limit,
        max_new_tokens_limit: args.max_new_tokens_limit.max(1),
        socket_max_new_tokens_limit: args.socket_max_new_tokens_limit.map(|n| n.max(1)),
        max_wait: Duration::from_millis(args.max_wait_ms),
        max_batch_texts: args.max_batch_texts.max(1),
        max_queue_texts: args.max_queue_texts.max(1),
        max_texts_per_request: args.max_texts_per_request.max(1),
        max_body_bytes: args.max_body_mb.max(1) << 20,
        header_timeout: Duration::from_secs(args.header_timeout_s.max(1)),
        body_timeout: Duration::from_secs(args.body_timeout_s.max(1)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_s),
        intra_op_threads: match args.model.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
    })
}

pub fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    // The configuration is checked before the model takes seconds to load.
    let config = config(&args)?;
    let model = args.model.load(false)?;
    eprintln!(
        "zeroshot serve: {} loaded from {} on {} in {} ms",
        model.model_id().unwrap_or("the model"),
        model.dir.display(),
        model.provider,
        model.load_time.as_millis()
    );
    zeroshot_server::run(model, config)?;
    Ok(())
}
