//! What `zeroshot serve` is told on its command line.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use zeroshot::ScoreOptions;

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The Unix socket for database backends (file mode 0660).
    pub socket: Option<PathBuf>,
    /// A TCP address; one that is not loopback needs `token`.
    pub listen: Option<SocketAddr>,
    /// The bearer token every TCP request must carry, if set.
    pub token: Option<String>,
    /// Defaults of a request that names no option (the model's and the extension's defaults).
    pub defaults: ScoreOptions,
    /// The longest prompt a request may ask for (as zs.max_input_tokens_limit).
    pub max_input_tokens_limit: usize,
    /// Another limit for requests on the Unix socket, if given (the background worker's server:
    /// its backends enforce their own session's limit).
    pub socket_max_input_tokens_limit: Option<usize>,
    /// The most tokens a `/v1/generate` request may generate in all, n x max_new_tokens (as
    /// zs.max_new_tokens_limit): a generation's time and decoder cache grow with every token.
    pub max_new_tokens_limit: usize,
    /// Another limit for generations asked on the Unix socket, if given (as
    /// `socket_max_input_tokens_limit`: its backends enforce their session's
    /// zs.max_new_tokens_limit).
    pub socket_max_new_tokens_limit: Option<usize>,
    /// How long the oldest request of a batch waits for others to join it.
    pub max_wait: Duration,
    /// Most texts in one batch (one `classify_many` call).
    pub max_batch_texts: usize,
    /// Most texts waiting at once; past it a request is answered 503 with Retry-After.
    pub max_queue_texts: usize,
    /// Most texts in one request.
    pub max_texts_per_request: usize,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time to send a request's headers, and then its body.
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// After SIGTERM: how long queued and running work may still finish.
    pub shutdown_grace: Duration,
    /// ONNX Runtime's intra-op threads (`--threads`, or one per core), shown by GET /v1/model.
    pub intra_op_threads: usize,
}
