//! Counters for `GET /metrics`, in Prometheus's text format (written by hand: a dozen lines
//! need no library).
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::Queue;

/// A histogram with fixed upper bounds (cumulative on output, as Prometheus wants).
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, x: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| x <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add((x * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct Metrics {
    queue: Arc<Queue>,
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    texts: AtomicU64,
    batches: AtomicU64,
    generations: AtomicU64,
    generated_tokens: AtomicU64,
    in_flight: AtomicI64,
    label_sets_cached: AtomicU64,
    label_cache_bytes: AtomicU64,
    /// The model files the engine has open (Model::loaded_graphs): the step graphs open on
    /// first need, so this changes after the first greedy or generation request.
    graphs: Mutex<Vec<&'static str>>,
    batch_texts: Histogram,
    latency: Histogram,
}

impl Metrics {
    pub fn new(queue: Arc<Queue>) -> Metrics {
        Metrics {
            queue,
            requests: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            texts: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            label_sets_cached: AtomicU64::new(0),
            label_cache_bytes: AtomicU64::new(0),
            graphs: Mutex::new(Vec::new()),
            batch_texts: Histogram::new(&[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            latency: Histogram::new(&[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        }
    }

    /// A request answered without work (health, metrics, the page): counted, not timed, so
    /// that a load balancer's checks do not pull the latency histogram down.
    pub fn request(&self, endpoint: &'static str, status: u16) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((endpoint, status)).or_default() += 1;
    }

    /// A classification request: counted, and its time observed.
    pub fn timed_request(&self, endpoint: &'static str, status: u16, took: Duration) {
        self.request(endpoint, status);
        self.latency.observe(took.as_secs_f64());
    }

    pub fn error(&self, kind: &'static str) {
        *self.errors.lock().unwrap_or_else(|e| e.into_inner()).entry(kind).or_default() += 1;
    }

    pub fn batch(&self, texts: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_texts.observe(texts as f64);
    }

    /// A generation answered, with the tokens of all its outputs.
    pub fn generation(&self, tokens: usize) {
        self.generations.fetch_add(1, Ordering::Relaxed);
        self.generated_tokens.fetch_add(tokens as u64, Ordering::Relaxed);
    }

    pub fn texts(&self, n: usize) {
        self.texts.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The model's label cache after a batch (Model::label_cache_usage): sets and bytes.
    pub fn label_cache(&self, (sets, bytes): (usize, usize)) {
        self.label_sets_cached.store(sets as u64, Ordering::Relaxed);
        self.label_cache_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// The model files the engine has open, after its last batch.
    pub fn set_graphs(&self, graphs: Vec<&'static str>) {
        *self.graphs.lock().unwrap_or_else(|e| e.into_inner()) = graphs;
    }

    pub fn graphs(&self) -> Vec<&'static str> {
        self.graphs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn label_cache_usage(&self) -> (u64, u64) {
        (self.label_sets_cached.load(Ordering::Relaxed), self.label_cache_bytes.load(Ordering::Relaxed))
    }

    pub fn texts_scored(&self) -> u64 {
        self.texts.load(Ordering::Relaxed)
    }

    /// Counts a request being answered (waited for at shutdown) until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP zeroshot_requests_total HTTP requests answered, by endpoint and status.\n");
        out.push_str("# TYPE zeroshot_requests_total counter\n");
        for ((endpoint, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "zeroshot_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP zeroshot_errors_total Engine errors, by kind.\n# TYPE zeroshot_errors_total counter\n");
        for (kind, n) in self.errors.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "zeroshot_errors_total{{kind=\"{kind}\"}} {n}");
        }
        let counters = [
            ("zeroshot_texts_total", "Texts scored.", self.texts.load(Ordering::Relaxed)),
            (
                "zeroshot_batches_total",
                "Classification batches run by the engine.",
                self.batches.load(Ordering::Relaxed),
            ),
            ("zeroshot_generations_total", "Generations answered.", self.generations.load(Ordering::Relaxed)),
            (
                "zeroshot_generated_tokens_total",
                "Tokens generated, all outputs.",
                self.generated_tokens.load(Ordering::Relaxed),
            ),
            (
                "zeroshot_jobs_cancelled_total",
                "Requests dropped unrun: their client went away.",
                self.queue.cancelled(),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP zeroshot_queue_texts Texts waiting for the engine.\n# TYPE zeroshot_queue_texts gauge\nzeroshot_queue_texts {}",
            self.queue.depth()
        );
        self.batch_texts.render(&mut out, "zeroshot_batch_texts", "Texts per batch.");
        self.latency.render(&mut out, "zeroshot_request_seconds", "Time from a request's arrival to its answer.");
        out
    }
}
