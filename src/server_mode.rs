//! zs.server: the backend sends its texts to `zeroshot serve` and loads no model. One HTTP
//! request per call (zeroshot-client), which answers a cancel within one 20 ms slice: the
//! connection is dropped, and the server drops the request unrun (or lets the batch it is in
//! finish without it). The request carries the session's scoring settings, so that answers are
//! the ones in-process mode gives.
use serde_json::{json, Value};
use zeroshot::{Classification, GenerateOptions, Generation, ScoreOptions};
use zeroshot_client::{wire, Address, Client, ClientError};

use crate::error::ZsError;
use crate::gucs;
use crate::server_worker;

thread_local! {
    /// Whether this session has been warned that the server's model has random weights.
    static WARNED_RANDOM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The server this session uses, from zs.server and zs.server_token_file, or the one
/// zs.server_autostart started; None in-process.
pub fn client() -> Option<Result<Client, ZsError>> {
    let address = match gucs::server() {
        Some(address) => address,
        None => match server_worker::started_server_address()? {
            Ok(address) => address,
            Err(reason) => return Some(Err(ZsError::ServerSetting { reason })),
        },
    };
    Some(connect_to(&address))
}

fn connect_to(address: &str) -> Result<Client, ZsError> {
    let address: Address = address.parse().map_err(|reason| ZsError::ServerSetting { reason })?;
    let token = match gucs::server_token_file() {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ZsError::ServerSetting { reason: format!("zs.server_token_file: {e}") })?;
            Some(text.lines().next().unwrap_or_default().trim().to_string())
        }
    };
    Ok(Client::new(address, token))
}

/// An answer the server refused, as the error the engine would have raised in-process.
fn server_error(e: ClientError) -> ZsError {
    match e {
        ClientError::Interrupted => ZsError::Engine(zeroshot::Error::Interrupted),
        // Its message names the address, which ZsError::report hides from some roles.
        ClientError::Unreachable(message) => ZsError::ServerUnreachable { message },
        ClientError::Disconnected(message) => ZsError::ServerDisconnected { message },
        ClientError::Protocol(message) => ZsError::ServerProtocol { message },
        ClientError::Status { status, body } => {
            let parsed: Option<Value> = serde_json::from_str(&body).ok();
            let field =
                |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_string);
            let message = field("error").unwrap_or_else(|| body.chars().take(500).collect());
            let kind_name = field("kind");
            match (status, kind_name.as_deref(), kind_name.as_deref().and_then(zeroshot::ErrorKind::from_name)) {
                // The server's own 503s say what they are: its queue is full ("overloaded"), or
                // it is shutting down and gave up the run ("interrupted", as a server that went
                // away mid-request); a proxy's 503 (no server up behind it) has no such body.
                (503, Some("overloaded"), _) => ZsError::ServerBusy { message },
                (503, Some("interrupted"), _) => ZsError::ServerDisconnected { message },
                (503, None, _) => ZsError::ServerUnreachable {
                    message: "HTTP 503 from a proxy: no server behind it answers".to_string(),
                },
                // A proxy in front of several servers (README, HAProxy): the server it chose
                // died or did not answer in time, as a dropped connection would say directly.
                (502 | 504, _, _) => ZsError::ServerDisconnected {
                    message: format!("HTTP {status} from a proxy: the server it chose failed or timed out"),
                },
                (_, _, Some(kind)) => {
                    ZsError::Server { kind, message, about_labels: field("about").as_deref() == Some("labels") }
                }
                _ => ZsError::ServerProtocol { message: format!("HTTP {status}: {message}") },
            }
        }
    }
}

/// Scores `texts` against `labels` on the server, with the session's options.
pub fn classify(
    client: &Client,
    texts: &[&str],
    labels: &[String],
    opts: &ScoreOptions,
) -> Result<Vec<Classification>, ZsError> {
    let request = json!({
        "texts": texts,
        "labels": labels,
        "temperature": opts.temperature,
        "score_mode": opts.mode.name(),
        "max_input_tokens": opts.max_input_tokens,
        "batch_rows": opts.runs.max_rows,
    });
    let answer = client.post_json("/v1/classify", &request, &crate::cancel_pending).map_err(server_error)?;
    let results = answer
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| ZsError::ServerProtocol { message: format!("{}: the answer has no results", client.address) })?;
    warn_if_random(&answer);
    if results.len() != texts.len() {
        return Err(ZsError::ServerProtocol {
            message: format!("{} results for {} texts", results.len(), texts.len()),
        });
    }
    results
        .iter()
        .map(|r| wire::classification_from_json(r, labels.len()).map_err(|message| ZsError::ServerProtocol { message }))
        .collect()
}

/// Warns once per session, as a backend warns once when it loads such a model, where the
/// answer says the server's model has random weights.
fn warn_if_random(answer: &Value) {
    if let Some(model_id) = answer.get("random_model").and_then(Value::as_str) {
        if !WARNED_RANDOM.replace(true) {
            crate::backend::warn_random_model(model_id);
        }
    }
}

/// What `GET /v1/model` says of the server's model.
pub fn model_info(client: &Client) -> Result<Value, ZsError> {
    client.get_json("/v1/model", &crate::cancel_pending).map_err(server_error)
}

/// `n` outputs for `prompt` from the server, with the session's options.
pub fn generate(client: &Client, prompt: &str, opts: &GenerateOptions) -> Result<Generation, ZsError> {
    let request = wire::generate_request_json(prompt, opts);
    let answer = client.post_json("/v1/generate", &request, &crate::cancel_pending).map_err(server_error)?;
    warn_if_random(&answer);
    wire::generation_from_json(&answer, opts.n).map_err(|message| ZsError::ServerProtocol { message })
}
