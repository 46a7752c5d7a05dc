//! Progress: a bar per stream on a terminal, plain lines otherwise; a summary table at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use intake::{Progress, StreamStatus, SyncReport};

#[derive(Default)]
struct Stream {
    records: u64,
    committed: u64,
    pages: u64,
    started: Option<Instant>,
    limited_since: Option<Instant>,
    waited: Duration,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

struct Inner {
    show: bool,
    bars: Option<MultiProgress>,
    streams: BTreeMap<String, Stream>,
}

/// The display of one sync (cheap to clone: every clone updates the same display).
#[derive(Clone)]
pub struct Display(Arc<Mutex<Inner>>);

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

impl Display {
    /// Bars on a terminal (stderr), plain lines when not, nothing when `show` is off.
    pub fn new(show: bool) -> Display {
        let bars = (show && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Display(Arc::new(Mutex::new(Inner {
            show,
            bars,
            streams: BTreeMap::new(),
        })))
    }

    /// Takes one progress event.
    pub fn update(&self, p: &Progress) {
        let mut inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.show {
            return;
        }
        let (name, event) = match p {
            Progress::Records { stream, .. }
            | Progress::Status { stream, .. }
            | Progress::Committed { stream, .. }
            | Progress::Metrics { stream, .. } => (stream.to_string(), p),
            _ => return,
        };
        let bars = inner.bars.clone();
        let s = inner.streams.entry(name.clone()).or_default();
        if s.bar.is_none()
            && let Some(m) = &bars
        {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<32} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            s.bar = Some(bar);
        }
        let now = Instant::now();
        let mut line: Option<String> = None;
        match event {
            Progress::Records { records, .. } => {
                s.records += records;
                s.pages += 1;
                if let Some(t) = s.limited_since.take() {
                    s.waited += now - t;
                }
            }
            Progress::Committed { records, .. } => {
                s.committed += records;
                if s.bar.is_none() && s.last_line.is_none_or(|t| now - t > Duration::from_secs(5)) {
                    s.last_line = Some(now);
                    line = Some(format!("{name}: {} records committed", s.committed));
                }
            }
            Progress::Status { status, .. } => match status {
                StreamStatus::Started => {
                    s.started = Some(now);
                    line = Some(format!("{name}: started"));
                }
                StreamStatus::RateLimited { .. } => {
                    s.limited_since.get_or_insert(now);
                    line = Some(format!("{name}: waiting on the API's rate limit"));
                }
                StreamStatus::Running => {
                    if let Some(t) = s.limited_since.take() {
                        s.waited += now - t;
                    }
                }
                StreamStatus::Complete | StreamStatus::Incomplete | StreamStatus::Skipped => {
                    let how = match status {
                        StreamStatus::Complete => "done",
                        StreamStatus::Skipped => "skipped (old data kept)",
                        _ => "incomplete",
                    };
                    line = Some(format!(
                        "{name}: {how}, {} records in {}",
                        s.records,
                        human(s.started.map(|t| now - t).unwrap_or_default())
                    ));
                }
            },
            Progress::Metrics { metrics, .. } => {
                s.waited = s.waited.max(metrics.rate_limit_wait);
            }
            _ => {}
        }
        let elapsed = s.started.map(|t| now - t).unwrap_or_default();
        let rate = if elapsed.as_secs_f64() > 0.0 {
            s.records as f64 / elapsed.as_secs_f64()
        } else {
            0.0
        };
        let msg = format!(
            "{} records · {:.0}/s · {} pages · waited {} on rate limits",
            s.records,
            rate,
            s.pages,
            human(s.waited)
        );
        match &s.bar {
            Some(bar) => {
                bar.set_message(msg);
                if matches!(
                    event,
                    Progress::Status {
                        status: StreamStatus::Complete
                            | StreamStatus::Incomplete
                            | StreamStatus::Skipped,
                        ..
                    }
                ) {
                    bar.finish();
                }
            }
            None => {
                if let Some(l) = line {
                    eprintln!("{l}");
                }
            }
        }
    }

    /// Stops the bars.
    pub fn finish(&self) {
        let inner = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for s in inner.streams.values() {
            if let Some(b) = &s.bar {
                b.finish();
            }
        }
    }
}

/// The summary table: per stream, records, duration, status and state.
pub fn summary(report: &SyncReport) {
    println!(
        "{:<40} {:>10} {:>9}  {:<11} state",
        "stream", "records", "time", "status"
    );
    for (d, s) in &report.streams {
        let status = match &s.status {
            Some(StreamStatus::Complete) => "complete",
            Some(StreamStatus::Incomplete) => "incomplete",
            Some(StreamStatus::Skipped) => "skipped",
            Some(_) => "running",
            None => "not read",
        };
        let state = s
            .state
            .as_ref()
            .and_then(|v| v.get("cursor").cloned())
            .map(|c| format!("cursor {c}"))
            .or_else(|| {
                s.state.as_ref().and_then(|v| {
                    v.get("partitions")
                        .and_then(|p| p.as_array())
                        .map(|p| format!("{} partitions", p.len()))
                })
            })
            .unwrap_or_else(|| "-".into());
        let mut name = d.to_string();
        if name.chars().count() > 40 {
            name = name.chars().take(39).collect::<String>() + "…";
        }
        println!(
            "{:<40} {:>10} {:>9}  {:<11} {}",
            name,
            s.records_written,
            human(s.duration),
            status,
            state
        );
    }
    println!(
        "{} records written in {}; {} checkpoints committed",
        report.records_written(),
        human(report.duration),
        report.checkpoints
    );
    for w in &report.warnings {
        println!("warning: {w}");
    }
}
