//! The waiting room between the HTTP front and the engine. Requests whose labels and options
//! are the same can share ONNX Runtime runs (the engine's several-texts path), so they are put
//! into one batch: the oldest waiting request's set goes next, with every queued request of
//! that set, up to a batch's worth of texts, once the oldest has waited `max_wait` or the batch
//! is full. The wait is skipped while requests come one at a time (the last batch was one
//! request): a lone client then pays nothing for batching, and once several clients overlap,
//! the batches grow and the wait gathers them. Going oldest-first, no label set waits behind another for more than the batches
//! ahead of it. The queue is bounded in texts: a request that does not fit is refused at once
//! (the front answers 503 with Retry-After), never buffered without bound.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use zeroshot::{Classification, ErrorKind, ScoreOptions};

/// Why a job got no classification: an engine error, by kind (the front picks the status).
#[derive(Debug, Clone)]
pub struct JobError {
    pub kind: ErrorKind,
    pub message: String,
    /// The labels were refused as they are (zeroshot::Error::concerns_labels).
    pub about_labels: bool,
}

pub type JobResult = Result<Vec<Classification>, JobError>;

/// One request's texts, waiting for the engine.
pub struct Job {
    pub texts: Vec<String>,
    pub labels: Arc<Vec<String>>,
    pub opts: ScoreOptions,
    /// Set by the front when its client went away: the job is dropped unrun.
    pub cancelled: Arc<AtomicBool>,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<JobResult>,
}

impl Job {
    /// Whether two jobs can share runs: same labels (same order) and same options.
    fn same_batch(&self, other: &Job) -> bool {
        let (a, b) = (&self.opts, &other.opts);
        self.labels == other.labels
            && a.mode == b.mode
            && a.temperature.to_bits() == b.temperature.to_bits()
            && a.max_input_tokens == b.max_input_tokens
            && a.runs == b.runs
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// Not enough room for the request's texts now.
    Full,
    /// The server is shutting down.
    Closed,
}

struct State {
    jobs: VecDeque<Job>,
    texts: usize,
    closed: bool,
    /// Requests in the last batch taken: 0 or 1 means no one overlaps, so none is waited for.
    last_batch_jobs: usize,
}

pub struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    cancelled: AtomicU64,
}

impl Queue {
    pub fn new(capacity_texts: usize) -> Queue {
        Queue {
            state: Mutex::new(State { jobs: VecDeque::new(), texts: 0, closed: false, last_batch_jobs: 0 }),
            ready: Condvar::new(),
            capacity: capacity_texts.max(1),
            cancelled: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere never leaves the state half-changed (each change is one step).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, or gives it back with the reason it does not fit.
    pub fn push(&self, job: Job) -> Result<(), (PushError, Job)> {
        let mut st = self.lock();
        if st.closed {
            return Err((PushError::Closed, job));
        }
        drop_cancelled(&mut st, &self.cancelled);
        if st.texts + job.texts.len() > self.capacity {
            return Err((PushError::Full, job));
        }
        st.texts += job.texts.len();
        st.jobs.push_back(job);
        self.ready.notify_all();
        Ok(())
    }

    /// Texts waiting now.
    pub fn depth(&self) -> usize {
        self.lock().texts
    }

    /// Jobs dropped unrun because their client went away.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// No more jobs are taken; the engine finishes what is queued, then `next_batch` ends.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Answers every job still queued with an error (shutdown past its grace period).
    pub fn fail_all(&self, message: &str) {
        let mut st = self.lock();
        st.texts = 0;
        for job in st.jobs.drain(..) {
            let _ = job.reply.send(Err(JobError {
                kind: ErrorKind::Interrupted,
                message: message.to_string(),
                about_labels: false,
            }));
        }
    }

    /// The next batch (see the module comment); None once the queue is closed and empty.
    pub fn next_batch(&self, max_wait: Duration, max_texts: usize) -> Option<Vec<Job>> {
        let mut st = self.lock();
        loop {
            drop_cancelled(&mut st, &self.cancelled);
            let Some(oldest) = st.jobs.front() else {
                if st.closed {
                    return None;
                }
                st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let deadline = if st.last_batch_jobs > 1 { oldest.enqueued + max_wait } else { oldest.enqueued };
            let waiting: usize = st.jobs.iter().filter(|j| j.same_batch(oldest)).map(|j| j.texts.len()).sum();
            let now = Instant::now();
            if waiting >= max_texts || now >= deadline || st.closed {
                let batch = take_batch(&mut st, max_texts);
                st.last_batch_jobs = batch.len();
                return Some(batch);
            }
            st = self.ready.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

fn drop_cancelled(st: &mut State, counter: &AtomicU64) {
    let before = st.jobs.len();
    let mut texts = st.texts;
    st.jobs.retain(|j| {
        let keep = !j.cancelled.load(Ordering::Relaxed);
        if !keep {
            texts -= j.texts.len();
        }
        keep
    });
    st.texts = texts;
    counter.fetch_add((before - st.jobs.len()) as u64, Ordering::Relaxed);
}

/// The oldest job and the queued jobs of its set after it, in order, up to `max_texts` texts
/// (the oldest is taken whatever its size).
fn take_batch(st: &mut State, max_texts: usize) -> Vec<Job> {
    let first = st.jobs.pop_front().expect("a job is queued");
    let mut size = first.texts.len();
    let mut batch = vec![first];
    let mut i = 0;
    while i < st.jobs.len() && size < max_texts {
        if st.jobs[i].same_batch(&batch[0]) && size + st.jobs[i].texts.len() <= max_texts {
            let job = st.jobs.remove(i).expect("index in range");
            size += job.texts.len();
            batch.push(job);
        } else {
            i += 1;
        }
    }
    st.texts -= size;
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(labels: &[&str], n: usize) -> (Job, oneshot::Receiver<JobResult>, Arc<AtomicBool>) {
        let (tx, rx) = oneshot::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let job = Job {
            texts: (0..n).map(|i| format!("t{i}")).collect(),
            labels: Arc::new(labels.iter().map(|s| s.to_string()).collect()),
            opts: ScoreOptions::default(),
            cancelled: cancelled.clone(),
            enqueued: Instant::now(),
            reply: tx,
        };
        (job, rx, cancelled)
    }

    #[test]
    fn batches_the_oldest_set_first_and_keeps_the_others_waiting() {
        let q = Queue::new(100);
        for (labels, n) in [(&["a", "b"][..], 2), (&["c"][..], 1), (&["a", "b"][..], 3), (&["c"][..], 4)] {
            assert!(q.push(job(labels, n).0).is_ok());
        }
        assert_eq!(q.depth(), 10);
        let first = q.next_batch(Duration::ZERO, 64).unwrap();
        assert_eq!(first.iter().map(|j| j.texts.len()).collect::<Vec<_>>(), [2, 3]);
        let second = q.next_batch(Duration::ZERO, 64).unwrap();
        assert_eq!(second.iter().map(|j| j.texts.len()).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(q.depth(), 0);
    }

    #[test]
    fn a_batch_stays_within_its_text_budget() {
        let q = Queue::new(100);
        for n in [3, 3, 3] {
            assert!(q.push(job(&["a"], n).0).is_ok());
        }
        assert_eq!(q.next_batch(Duration::ZERO, 7).unwrap().len(), 2);
        assert_eq!(q.next_batch(Duration::ZERO, 7).unwrap().len(), 1);
        // A job larger than the budget still runs, alone.
        assert!(q.push(job(&["a"], 9).0).is_ok());
        assert_eq!(q.next_batch(Duration::ZERO, 7).unwrap()[0].texts.len(), 9);
    }

    #[test]
    fn full_closed_and_cancelled() {
        let q = Queue::new(5);
        let (a, _rx, cancel_a) = job(&["a"], 4);
        assert!(q.push(a).is_ok());
        assert_eq!(q.push(job(&["a"], 2).0).err().map(|e| e.0), Some(PushError::Full));
        // A cancelled job frees its room and is never handed to the engine.
        cancel_a.store(true, Ordering::Relaxed);
        assert!(q.push(job(&["b"], 2).0).is_ok());
        assert_eq!(q.cancelled(), 1);
        let batch = q.next_batch(Duration::ZERO, 64).unwrap();
        assert_eq!(batch[0].labels[0], "b");
        q.close();
        assert_eq!(q.push(job(&["a"], 1).0).err().map(|e| e.0), Some(PushError::Closed));
        assert!(q.next_batch(Duration::ZERO, 64).is_none());
    }

    #[test]
    fn a_lone_request_does_not_wait() {
        let q = Queue::new(100);
        assert!(q.push(job(&["a"], 1).0).is_ok());
        let t0 = Instant::now();
        assert_eq!(q.next_batch(Duration::from_secs(30), 2).unwrap().len(), 1);
        assert!(t0.elapsed() < Duration::from_secs(10), "no batch before it overlapped: taken at once");
    }

    #[test]
    fn waits_for_company_up_to_max_wait() {
        let q = Arc::new(Queue::new(100));
        // Two requests overlapped in the last batch: from now on the next one waits for company.
        assert!(q.push(job(&["a"], 1).0).is_ok() && q.push(job(&["a"], 1).0).is_ok());
        assert_eq!(q.next_batch(Duration::ZERO, 2).unwrap().len(), 2);
        assert!(q.push(job(&["a"], 1).0).is_ok());
        let q2 = q.clone();
        let later = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            assert!(q2.push(job(&["a"], 1).0).is_ok());
        });
        let batch = q.next_batch(Duration::from_secs(5), 2).unwrap();
        later.join().unwrap();
        assert_eq!(batch.len(), 2, "the second job joined the first within max_wait");
    }
}
