//! Progress of long work (eval, bench, classify over standard input) on stderr, so that
//! stdout holds only results and stays clean for pipes: a bar with the rate and the time
//! left when stderr is a terminal that can redraw a line, a plain line every few seconds when it is a pipe or a log
//! (a bar's carriage returns would fill a log with redraws), nothing with `--quiet`.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

#[derive(Args, Clone)]
pub struct ProgressArgs {
    /// Nothing on stderr but errors: no progress, no warning that the model has random weights.
    #[arg(long, short)]
    pub quiet: bool,
    /// Seconds between progress lines when stderr is not a terminal (a pipe, a log file).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", value_parser = positive_seconds)]
    pub progress_interval: f64,
}

fn positive_seconds(arg: &str) -> Result<f64, String> {
    match arg.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("{arg:?} is not a number of seconds above 0")),
    }
}

enum Shown {
    Nothing,
    Bar(ProgressBar),
    Lines { every: Duration, last: Instant, printed: bool },
}

/// Progress through `total` texts. `what` names the work (the subcommand), a stage the part
/// under way (a test set, a bench configuration).
pub struct Progress {
    what: &'static str,
    stage: String,
    total: u64,
    done: u64,
    started: Instant,
    shown: Shown,
    /// Results printed while a bar is drawn on the same terminal must clear it first.
    stdout_shares_terminal: bool,
}

impl Progress {
    pub fn start(args: &ProgressArgs, what: &'static str, total: u64) -> Progress {
        // indicatif's own test: a terminal, and TERM neither unset nor dumb (which cannot
        // redraw a line). Where it would hide the bar, the plain lines take its place.
        let bar_drawn = !ProgressDrawTarget::stderr().is_hidden();
        let shown = if args.quiet {
            Shown::Nothing
        } else if bar_drawn {
            Shown::Bar(bar(what, total))
        } else {
            Shown::Lines {
                every: Duration::from_secs_f64(args.progress_interval),
                last: Instant::now(),
                printed: false,
            }
        };
        Progress {
            what,
            stage: String::new(),
            total,
            done: 0,
            started: Instant::now(),
            shown,
            stdout_shares_terminal: bar_drawn && std::io::stdout().is_terminal(),
        }
    }

    /// Names the part of the work under way (shown on the bar and on the next line).
    pub fn stage(&mut self, stage: impl Into<String>) {
        self.stage = stage.into();
        if let Shown::Bar(bar) = &self.shown {
            bar.set_message(format!("{} ", self.stage));
        }
    }

    /// `n` more texts done.
    pub fn advance(&mut self, n: u64) {
        self.done += n;
        match &mut self.shown {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.inc(n),
            Shown::Lines { every, last, printed } => {
                // The last text is the summary's to report, not a line's with nothing left.
                if last.elapsed() >= *every && self.done < self.total {
                    eprintln!("{}", line(self.what, &self.stage, self.done, self.total, self.started.elapsed()));
                    *last = Instant::now();
                    *printed = true;
                }
            }
        }
    }

    /// Prints a result line on stdout, with the bar out of its way when both share a terminal.
    pub fn println(&self, text: &str) {
        match &self.shown {
            Shown::Bar(bar) if self.stdout_shares_terminal => bar.suspend(|| println!("{text}")),
            _ => println!("{text}"),
        }
    }

    /// Clears the bar; after progress lines, one last line with the total time and rate (a run
    /// too short for any line stays silent).
    pub fn finish(self) {
        match self.shown {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines { printed, .. } => {
                if printed {
                    eprintln!("{}", last_line(self.what, self.done, self.started.elapsed()));
                }
            }
        }
    }
}

fn bar(what: &str, total: u64) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix}: {msg}[{wide_bar}] {pos}/{len} texts, {rate}, {eta} left")
        .expect("a valid template")
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1} texts/s", s.per_sec());
        })
        .progress_chars("=> ");
    let bar = ProgressBar::new(total).with_style(style);
    bar.set_prefix(what.to_string());
    bar
}

/// One progress line: `eval: tnews: 640/2010 texts (31.8%), 212.4 texts/s, about 7 s left`.
fn line(what: &str, stage: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let stage = if stage.is_empty() { String::new() } else { format!("{stage}: ") };
    let percent = 100.0 * done as f64 / total.max(1) as f64;
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    let left = if done == 0 {
        "time left not known yet".to_string()
    } else {
        format!("about {} left", human(total.saturating_sub(done) as f64 / rate))
    };
    format!("{what}: {stage}{done}/{total} texts ({percent:.1}%), {rate:.1} texts/s, {left}")
}

/// The line after the last: `eval: 2010 texts in 9 s, 212.4 texts/s`.
fn last_line(what: &str, done: u64, elapsed: Duration) -> String {
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    format!("{what}: {done} texts in {}, {rate:.1} texts/s", human(elapsed.as_secs_f64()))
}

/// A duration as a person reads it: tenths of a second below 10 s, seconds up to 90,
/// minutes up to 90, then hours and minutes.
fn human(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 9.95 {
        return format!("{seconds:.1} s");
    }
    let s = seconds.round() as u64;
    match s {
        0..90 => format!("{s} s"),
        90..5400 => format!("{} min", (s + 30) / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600 + 30) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human(0.04), "0.0 s");
        assert_eq!(human(7.44), "7.4 s");
        assert_eq!(human(12.4), "12 s");
        assert_eq!(human(89.0), "89 s");
        assert_eq!(human(150.0), "3 min");
        assert_eq!(human(2700.0), "45 min");
        assert_eq!(human(3.0 * 3600.0 + 5.0 * 60.0), "3 h 5 min");
    }

    #[test]
    fn a_line_has_the_count_rate_and_time_left() {
        let l = line("eval", "tnews", 640, 2010, Duration::from_secs(3));
        assert_eq!(l, "eval: tnews: 640/2010 texts (31.8%), 213.3 texts/s, about 6.4 s left");
        let l = line("classify", "", 0, 10, Duration::from_secs(5));
        assert_eq!(l, "classify: 0/10 texts (0.0%), 0.0 texts/s, time left not known yet");
        assert_eq!(last_line("bench", 120, Duration::from_secs(4)), "bench: 120 texts in 4.0 s, 30.0 texts/s");
    }

    #[test]
    fn intervals_must_be_positive() {
        assert_eq!(positive_seconds("0.5"), Ok(0.5));
        assert!(positive_seconds("0").is_err() && positive_seconds("-1").is_err() && positive_seconds("inf").is_err());
    }
}
