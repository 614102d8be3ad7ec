//! The HTTP front: routes, limits and answers. It parses and checks each request (`api`),
//! queues it, and waits for the engine's answer; nothing here touches the model.
//!
//! Limits: a connection has `header_timeout` to send its headers (hyper's header read timeout)
//! and then `body_timeout` for its body, which may not exceed `max_body_bytes`; at most
//! `MAX_CONNECTIONS` connections are served at once. So a slow client holds a cheap task for a
//! bounded time, never the engine. A request whose client goes away while it waits is marked
//! cancelled, and the queue drops it unrun.
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{oneshot, watch, OwnedSemaphorePermit, Semaphore};
use zeroshot::{Classification, ErrorKind, LabelForms};

use crate::api::{self, ApiError};
use crate::browser_guard;
use crate::config::ServeConfig;
use crate::metrics::Metrics;
use crate::queue::{Classify, Generate, Job, JobError, PushError, Queue, Work};
use crate::webui;

/// Connections served at once; the next waits to be accepted.
const MAX_CONNECTIONS: usize = 1024;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    info: Value,
    config: ServeConfig,
    started: Instant,
}

impl AppState {
    pub fn new(queue: Arc<Queue>, metrics: Arc<Metrics>, info: Value, config: ServeConfig) -> AppState {
        AppState(Arc::new(Inner { queue, metrics, info, config, started: Instant::now() }))
    }

    /// The same queue, engine and counters, with the Unix socket's limits where it has its own
    /// (`--socket-max-input-tokens-limit`, `--socket-max-new-tokens-limit`): its clients are
    /// database backends that enforce their own session's limits.
    fn for_socket(&self) -> AppState {
        let st = &self.0;
        let mut config = st.config.clone();
        config.max_input_tokens_limit = config.socket_max_input_tokens_limit.unwrap_or(config.max_input_tokens_limit);
        config.max_new_tokens_limit = config.socket_max_new_tokens_limit.unwrap_or(config.max_new_tokens_limit);
        AppState(Arc::new(Inner {
            queue: st.queue.clone(),
            metrics: st.metrics.clone(),
            info: st.info.clone(),
            config,
            started: st.started,
        }))
    }
}

fn json_response(status: u16, body: Value, retry_after: Option<u32>) -> Response {
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.status, e.body(), e.retry_after)
}

/// The status an engine error is answered with.
fn job_error(e: JobError) -> ApiError {
    let status = match e.kind {
        ErrorKind::InvalidParameter | ErrorKind::ProgramLimit => 400,
        ErrorKind::Interrupted | ErrorKind::OutOfMemory => 503,
        _ => 500,
    };
    ApiError { about_labels: e.about_labels, ..ApiError::new(status, e.kind.name(), e.message) }
}

/// Marks its job cancelled when dropped before the answer came: hyper drops a request's
/// future when its client closes the connection.
struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

async fn read_json(st: &Inner, headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    browser_guard::check_json_body(headers)?;
    let max = st.config.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ApiError::new(413, "program_limit", format!("the body is over {max} bytes")));
    }
    let bytes = match tokio::time::timeout(st.config.body_timeout, axum::body::to_bytes(body, max)).await {
        Err(_) => return Err(ApiError::new(408, "timeout", "the request body did not arrive in time")),
        Ok(Err(e)) => {
            let too_long = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .any(|e| e.to_string().contains("length limit"));
            return Err(if too_long {
                ApiError::new(413, "program_limit", format!("the body is over {max} bytes"))
            } else {
                ApiError::bad_request(format!("could not read the body: {e}"))
            });
        }
        Ok(Ok(bytes)) => bytes,
    };
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

/// Queues `work` and waits for its answer on `answer` (the receiver of its reply).
async fn submit<T>(st: &Inner, work: Work, answer: oneshot::Receiver<Result<T, JobError>>) -> Result<T, ApiError> {
    let cancelled = Arc::new(AtomicBool::new(false));
    match st.queue.push(Job { work, cancelled: cancelled.clone(), enqueued: Instant::now() }) {
        Ok(()) => {}
        Err(PushError::Full) => {
            let mut e = ApiError::new(503, "overloaded", "the queue is full; retry later");
            e.retry_after = Some(1);
            return Err(e);
        }
        Err(PushError::Closed) => return Err(ApiError::new(503, "shutting_down", "the server is shutting down")),
    }
    let mut guard = CancelOnDrop(Some(cancelled));
    let outcome = answer.await;
    guard.0 = None;
    match outcome {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(job_error(e)),
        Err(_) => Err(ApiError::new(503, "shutting_down", "the server stopped before answering")),
    }
}

/// Answers one request of work for the engine: `work` reads, checks, queues and answers it;
/// counted in the metrics, its time observed.
async fn answered(st: &Inner, endpoint: &'static str, work: impl Future<Output = Result<Value, ApiError>>) -> Response {
    let t0 = Instant::now();
    // Counted out when dropped: a request whose client goes away is dropped mid-await.
    let _in_flight = st.metrics.enter();
    let response = match work.await {
        Ok(body) => json_response(200, body, None),
        Err(e) => error_response(&e),
    };
    st.metrics.timed_request(endpoint, response.status().as_u16(), t0.elapsed());
    response
}

/// How a classifying endpoint answers: the model's description, the labels, the request's
/// `top`, and one classification per text.
type ClassifyAnswer = fn(&Value, &[String], Option<usize>, &[Classification]) -> Value;

/// Runs one classifying endpoint: read, check, queue, answer.
async fn classify_endpoint(
    st: AppState,
    endpoint: &'static str,
    headers: HeaderMap,
    body: Body,
    parse: fn(&Value, &ServeConfig) -> Result<api::Request, ApiError>,
    answer: ClassifyAnswer,
) -> Response {
    let st = &st.0;
    answered(st, endpoint, async {
        let body = read_json(st, &headers, body).await?;
        let request = parse(&body, &st.config)?;
        let forms: Arc<LabelForms> = Arc::new(request.forms);
        let (reply, results) = oneshot::channel();
        let work = Work::Classify(Classify { texts: request.texts, forms: forms.clone(), opts: request.opts, reply });
        let results = submit(st, work, results).await?;
        Ok(answer(&st.info, &forms.labels, request.top, &results))
    })
    .await
}

async fn augment(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    classify_endpoint(st, "/augment", headers, body, api::augment_request, |_, labels, _, results| {
        api::augment_answer(labels, &results[0])
    })
    .await
}

async fn augment_batch(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    classify_endpoint(st, "/augment_batch", headers, body, api::augment_batch_request, |_, labels, _, results| {
        api::augment_batch_answer(labels, results)
    })
    .await
}

async fn classify(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    classify_endpoint(st, "/v1/classify", headers, body, api::classify_request, api::classify_answer).await
}

/// `POST /v1/generate`: one prompt, run alone on the engine (the queue batches no generation).
async fn generate(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let st = &st.0;
    answered(st, "/v1/generate", async {
        let body = read_json(st, &headers, body).await?;
        let request = api::generate_request(&body, &st.config)?;
        let (reply, generation) = oneshot::channel();
        let work = Work::Generate(Generate { prompt: request.prompt, opts: request.opts, reply });
        let generation = submit(st, work, generation).await?;
        Ok(api::generate_answer(&st.info, &generation))
    })
    .await
}

async fn model(State(st): State<AppState>) -> Response {
    let st = &st.0;
    let mut info = st.info.clone();
    info["texts_scored"] = json!(st.metrics.texts_scored());
    info["queue_texts"] = json!(st.queue.depth());
    // What zs_model_info() shows of a model a backend loaded itself.
    let (sets, bytes) = st.metrics.label_cache_usage();
    info["label_sets_cached"] = json!(sets);
    info["label_cache_bytes"] = json!(bytes);
    info["graphs"] = json!(st.metrics.graphs());
    info["intra_op_threads"] = json!(st.config.intra_op_threads);
    info["uptime_s"] = json!(st.started.elapsed().as_secs_f64());
    st.metrics.request("/v1/model", 200);
    json_response(200, info, None)
}

async fn healthz(State(st): State<AppState>) -> Response {
    st.0.metrics.request("/healthz", 200);
    json_response(200, json!({ "status": "ok" }), None)
}

async fn metrics(State(st): State<AppState>) -> Response {
    let body = st.0.metrics.render();
    st.0.metrics.request("/metrics", 200);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn not_found() -> Response {
    error_response(&ApiError::new(404, "not_found", "no such endpoint"))
}

/// What needs no token and no loopback name: a load balancer's health check (it holds nothing).
fn open_routes(state: AppState) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(state)
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/augment", post(augment))
        .route("/augment_batch", post(augment_batch))
        .route("/v1/classify", post(classify))
        .route("/v1/generate", post(generate))
        .route("/v1/model", get(model))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

/// Every request on TCP carries `Authorization: Bearer <token>` (compared in constant time).
async fn check_token(State(token): State<Arc<String>>, request: HttpRequest, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110).
        .and_then(|v| v.get(..7).filter(|s| s.eq_ignore_ascii_case("bearer ")).map(|_| &v[7..]));
    let ok = given.is_some_and(|g| {
        g.len() == token.len() && g.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    });
    if !ok {
        let mut response = error_response(&ApiError::new(401, "unauthorized", "a valid bearer token is required"));
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// Middleware of a TCP listener without a token: a request addressed to another host name (a
/// rebinding page's, browser_guard.rs) gets 403.
async fn loopback_host_only(request: HttpRequest, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !browser_guard::loopback_host(host) {
        return error_response(&ApiError::new(
            403,
            "forbidden",
            "this server answers only requests addressed to localhost or a loopback address; give it --token-file to serve other names",
        ));
    }
    next.run(request).await
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

fn serve_connection<S>(
    stream: S,
    router: Router,
    mut stop: watch::Receiver<bool>,
    header_timeout: Duration,
    slot: OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    tokio::spawn(async move {
        // The connection's slot is free again when this task ends.
        let _slot = slot;
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            _ = stop.changed() => {
                // Finish the request under way, take no other.
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    });
}

async fn accept_loop(listener: Listener, router: Router, mut stop: watch::Receiver<bool>, header_timeout: Duration) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("never closed"),
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = async {
                match &listener {
                    Listener::Unix(l) => l.accept().await.map(|(s, _)| (Some(s), None)),
                    Listener::Tcp(l) => l.accept().await.map(|(s, _)| (None, Some(s))),
                }
            } => a,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((Some(s), _)) => serve_connection(s, router.clone(), stop.clone(), header_timeout, permit),
            Ok((_, Some(s))) => {
                let _ = s.set_nodelay(true);
                serve_connection(s, router.clone(), stop.clone(), header_timeout, permit)
            }
            Ok(_) => unreachable!("one of the two"),
            // Out of descriptors, or a connection reset before it was accepted: go on.
            Err(e) => {
                eprintln!("zeroshot serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn bind_unix(path: &std::path::Path) -> Result<UnixListener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    // A socket left by a server that died is replaced; any other file is not touched.
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("{} exists and is not a socket", path.display()));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!("{}: another server answers on it", path.display()));
        }
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    // Owner and group (the database server's, when it runs the server) may connect.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(listener)
}

async fn shutdown_signal() -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Listens until SIGTERM or SIGINT, then stops accepting, closes the queue and waits (up to the
/// grace period) for the requests under way to be answered.
pub async fn serve(state: AppState, config: &ServeConfig) -> Result<(), String> {
    // The WebUI's page and assets and the health check are merged in after the token and host
    // checks: they hold no data.
    let pages = webui::routes(state.0.metrics.clone()).merge(open_routes(state.clone()));
    let api = routes(state.clone());
    let router = api.clone().merge(pages.clone());
    let (stop, stopped) = watch::channel(false);
    let mut loops = Vec::new();
    if let Some(path) = &config.socket {
        let listener = bind_unix(path)?;
        eprintln!("zeroshot serve: listening on unix:{}", path.display());
        let socket_router =
            if config.socket_max_input_tokens_limit.is_some() || config.socket_max_new_tokens_limit.is_some() {
                routes(state.for_socket()).merge(pages.clone())
            } else {
                router.clone()
            };
        loops.push(tokio::spawn(accept_loop(
            Listener::Unix(listener),
            socket_router,
            stopped.clone(),
            config.header_timeout,
        )));
    }
    if let Some(addr) = config.listen {
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let tcp_router = match &config.token {
            Some(token) => api
                .clone()
                .layer(middleware::from_fn_with_state(Arc::new(token.clone()), check_token))
                .merge(pages.clone()),
            None => api.clone().layer(middleware::from_fn(loopback_host_only)).merge(pages.clone()),
        };
        eprintln!("zeroshot serve: listening on http://{local}");
        loops.push(tokio::spawn(accept_loop(
            Listener::Tcp(listener),
            tcp_router,
            stopped.clone(),
            config.header_timeout,
        )));
    }
    let signalled = shutdown_signal().await;
    eprintln!("zeroshot serve: shutting down");
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    if let Some(path) = &config.socket {
        let _ = std::fs::remove_file(path);
    }
    state.0.queue.close();
    let deadline = Instant::now() + config.shutdown_grace;
    while state.0.metrics.in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signalled
}
