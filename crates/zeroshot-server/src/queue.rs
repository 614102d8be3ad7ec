//! The waiting room between the HTTP front and the engine. Requests whose labels and options
//! are the same can share ONNX Runtime runs (the engine's several-texts path), so they are put
//! into one batch: the oldest waiting request's set goes next, with every queued request of
//! that set, up to a batch's worth of texts, once the oldest has waited `max_wait` or the batch
//! is full. The wait is skipped while requests come one at a time (the last batch was one
//! request): a lone client then pays nothing for batching, and once several clients overlap,
//! the batches grow and the wait gathers them. Going oldest-first, no label set waits behind another for more than the batches
//! ahead of it. The queue is bounded in texts: a request that does not fit is refused at once
//! (the front answers 503 with Retry-After), never buffered without bound.
//!
//! A generation (`POST /v1/generate`) waits in the same line, so that the one model thread
//! takes every kind of work in arrival order, but is never batched: it runs alone, at once
//! when its turn comes, and counts as one text against the bound.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use zeroshot::{Classification, ErrorKind, GenerateOptions, Generation, LabelForms, ScoreOptions};

/// Why a job got no classification: an engine error, by kind (the front picks the status).
#[derive(Debug, Clone)]
pub struct JobError {
    pub kind: ErrorKind,
    pub message: String,
    /// The labels were refused as they are (zeroshot::Error::concerns_labels).
    pub about_labels: bool,
}

/// Texts to classify against one set of labels (with their aliases).
pub struct Classify {
    pub texts: Vec<String>,
    pub forms: Arc<LabelForms>,
    pub opts: ScoreOptions,
    pub reply: oneshot::Sender<Result<Vec<Classification>, JobError>>,
}

/// One prompt to generate from.
pub struct Generate {
    pub prompt: String,
    pub opts: GenerateOptions,
    pub reply: oneshot::Sender<Result<Generation, JobError>>,
}

/// What a job asks of the engine; each kind answers on its own channel.
pub enum Work {
    Classify(Classify),
    Generate(Generate),
}

/// One request, waiting for the engine.
pub struct Job {
    pub work: Work,
    /// Set by the front when its client went away: the job is dropped unrun.
    pub cancelled: Arc<AtomicBool>,
    pub enqueued: Instant,
}

impl Job {
    /// What the job counts against the queue's bound: its texts, or its one prompt.
    fn size(&self) -> usize {
        match &self.work {
            Work::Classify(c) => c.texts.len(),
            Work::Generate(_) => 1,
        }
    }

    /// Whether two jobs can share runs: classifications with the same labels and aliases (same
    /// order) and the same options. A generation shares with none.
    fn same_batch(&self, other: &Job) -> bool {
        let (Work::Classify(x), Work::Classify(y)) = (&self.work, &other.work) else { return false };
        let (a, b) = (&x.opts, &y.opts);
        x.forms == y.forms
            && a.mode == b.mode
            && a.temperature.to_bits() == b.temperature.to_bits()
            && a.max_input_tokens == b.max_input_tokens
            && a.runs == b.runs
    }

    /// Answers the job with `error` (a client that went away has dropped its receiver).
    pub fn fail(self, error: JobError) {
        match self.work {
            Work::Classify(c) => {
                let _ = c.reply.send(Err(error));
            }
            Work::Generate(g) => {
                let _ = g.reply.send(Err(error));
            }
        }
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

    /// Queues `job`, or says why it does not fit (the job is dropped: its request is answered
    /// with the reason at once).
    pub fn push(&self, job: Job) -> Result<(), PushError> {
        let mut st = self.lock();
        if st.closed {
            return Err(PushError::Closed);
        }
        drop_cancelled(&mut st, &self.cancelled);
        if st.texts + job.size() > self.capacity {
            return Err(PushError::Full);
        }
        st.texts += job.size();
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
            job.fail(JobError { kind: ErrorKind::Interrupted, message: message.to_string(), about_labels: false });
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
            // A generation has no one to wait for.
            let alone = matches!(oldest.work, Work::Generate(_));
            let deadline = if st.last_batch_jobs > 1 && !alone { oldest.enqueued + max_wait } else { oldest.enqueued };
            let waiting: usize = st.jobs.iter().filter(|j| j.same_batch(oldest)).map(Job::size).sum();
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
            texts -= j.size();
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
    let mut size = first.size();
    let mut batch = vec![first];
    let mut i = 0;
    while i < st.jobs.len() && size < max_texts {
        if st.jobs[i].same_batch(&batch[0]) && size + st.jobs[i].size() <= max_texts {
            let job = st.jobs.remove(i).expect("index in range");
            size += job.size();
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

    type Answer = oneshot::Receiver<Result<Vec<Classification>, JobError>>;

    fn job(labels: &[&str], n: usize) -> (Job, Answer, Arc<AtomicBool>) {
        let (reply, rx) = oneshot::channel();
        let cancelled = Arc::new(AtomicBool::new(false));
        let labels = labels.iter().map(|s| s.to_string()).collect();
        let work = Work::Classify(Classify {
            texts: (0..n).map(|i| format!("t{i}")).collect(),
            forms: Arc::new(LabelForms::new(labels, Vec::new()).unwrap()),
            opts: ScoreOptions::default(),
            reply,
        });
        (Job { work, cancelled: cancelled.clone(), enqueued: Instant::now() }, rx, cancelled)
    }

    fn generation() -> Job {
        let (reply, _) = oneshot::channel();
        let work = Work::Generate(Generate { prompt: "p".into(), opts: GenerateOptions::default(), reply });
        Job { work, cancelled: Arc::new(AtomicBool::new(false)), enqueued: Instant::now() }
    }

    fn sizes(batch: &[Job]) -> Vec<usize> {
        batch.iter().map(Job::size).collect()
    }

    #[test]
    fn batches_the_oldest_set_first_and_keeps_the_others_waiting() {
        let q = Queue::new(100);
        for (labels, n) in [(&["a", "b"][..], 2), (&["c"][..], 1), (&["a", "b"][..], 3), (&["c"][..], 4)] {
            assert!(q.push(job(labels, n).0).is_ok());
        }
        assert_eq!(q.depth(), 10);
        let first = q.next_batch(Duration::ZERO, 64).unwrap();
        assert_eq!(sizes(&first), [2, 3]);
        let second = q.next_batch(Duration::ZERO, 64).unwrap();
        assert_eq!(sizes(&second), [1, 4]);
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
        assert_eq!(sizes(&q.next_batch(Duration::ZERO, 7).unwrap()), [9]);
    }

    #[test]
    fn full_closed_and_cancelled() {
        let q = Queue::new(5);
        let (a, _rx, cancel_a) = job(&["a"], 4);
        assert!(q.push(a).is_ok());
        assert_eq!(q.push(job(&["a"], 2).0).err(), Some(PushError::Full));
        // A cancelled job frees its room and is never handed to the engine.
        cancel_a.store(true, Ordering::Relaxed);
        assert!(q.push(job(&["b"], 2).0).is_ok());
        assert_eq!(q.cancelled(), 1);
        let batch = q.next_batch(Duration::ZERO, 64).unwrap();
        assert!(matches!(&batch[0].work, Work::Classify(c) if c.forms.labels[0] == "b"));
        q.close();
        assert_eq!(q.push(job(&["a"], 1).0).err(), Some(PushError::Closed));
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

    #[test]
    fn a_generation_runs_alone_in_its_turn_without_waiting() {
        let q = Queue::new(100);
        // Overlapping requests: a classification would now wait for company.
        assert!(q.push(job(&["a"], 1).0).is_ok() && q.push(job(&["a"], 1).0).is_ok());
        assert_eq!(q.next_batch(Duration::ZERO, 64).unwrap().len(), 2);
        assert!(q.push(generation()).is_ok());
        assert!(q.push(generation()).is_ok());
        assert!(q.push(job(&["a"], 2).0).is_ok());
        assert_eq!(q.depth(), 4, "a generation counts as one text");
        let t0 = Instant::now();
        let first = q.next_batch(Duration::from_secs(30), 64).unwrap();
        assert!(t0.elapsed() < Duration::from_secs(10), "taken at once");
        assert!(first.len() == 1 && matches!(first[0].work, Work::Generate(_)));
        let second = q.next_batch(Duration::ZERO, 64).unwrap();
        assert!(second.len() == 1 && matches!(second[0].work, Work::Generate(_)), "never batched with another");
        assert_eq!(sizes(&q.next_batch(Duration::ZERO, 64).unwrap()), [2]);
    }

    #[test]
    fn aliases_keep_label_sets_apart() {
        let q = Queue::new(100);
        let (mut aliased, _rx, _) = job(&["a", "b"], 1);
        if let Work::Classify(c) = &mut aliased.work {
            c.forms =
                Arc::new(LabelForms::new(vec!["a".into(), "b".into()], vec![("a".into(), vec!["a2".into()])]).unwrap());
        }
        assert!(q.push(job(&["a", "b"], 1).0).is_ok() && q.push(aliased).is_ok());
        assert_eq!(q.next_batch(Duration::ZERO, 64).unwrap().len(), 1);
        assert_eq!(q.next_batch(Duration::ZERO, 64).unwrap().len(), 1);
    }
}
