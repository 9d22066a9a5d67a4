//! What the command shows on the terminal while it works: the replay
//! progress bar and the live capture's status line and notes. The libraries
//! only report progress and events; drawing them is the binary's job.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pktsample_capture::Progress;
use pktsample_capture::live::{LiveEvent, LiveOptions};

/// Inputs at least this large get a progress bar (on a terminal).
const PROGRESS_BYTES: u64 = 64 << 20;

/// A replay's progress bar, drawn only on a terminal for large inputs.
pub struct ReplayBar {
    enabled: bool,
    bar: std::cell::OnceCell<Option<ProgressBar>>,
}

impl ReplayBar {
    pub fn new(enabled: bool) -> Self {
        ReplayBar {
            enabled: enabled && std::io::stderr().is_terminal(),
            bar: std::cell::OnceCell::new(),
        }
    }

    pub fn update(&self, p: Progress) {
        let bar = self.bar.get_or_init(|| {
            (self.enabled && p.total >= PROGRESS_BYTES).then(|| {
                let pb = ProgressBar::new(p.total);
                pb.set_style(
                    ProgressStyle::with_template(
                        "{spinner} replay [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                pb
            })
        });
        if let Some(pb) = bar {
            pb.set_position(p.read);
        }
    }

    pub fn finish(&self) {
        if let Some(Some(pb)) = self.bar.get() {
            pb.finish_and_clear();
        }
    }
}

/// Show one live-capture event: the start line (which tests and scripts
/// wait for), notes on interfaces, and the status line (`status`: on a
/// terminal). `shown` is the (samples, elapsed) of the last status line.
pub fn live_event(e: &LiveEvent, opts: &LiveOptions, status: bool, shown: &mut (u64, Duration)) {
    match e {
        LiveEvent::Started { interfaces } => {
            let names: Vec<String> = interfaces
                .iter()
                .map(|(n, r)| {
                    if *r == opts.sampling_rate {
                        n.clone()
                    } else {
                        format!("{n} (1-in-{r})")
                    }
                })
                .collect();
            let waiting = if names.is_empty() {
                "no interface yet; waiting for matching ones".to_string()
            } else {
                names.join(", ")
            };
            eprintln!(
                "pktsample: capturing on {waiting} (1-in-{}, snaplen {}); Ctrl-C to stop",
                opts.sampling_rate, opts.snaplen
            );
        }
        LiveEvent::Attached { name, rate } => {
            eprintln!(
                "{}pktsample: now also on {name} (1-in-{rate})",
                clear(status)
            )
        }
        LiveEvent::Detached { name } => eprintln!(
            "{}pktsample: {name} disappeared; its counts are kept",
            clear(status)
        ),
        LiveEvent::Skipped { name, reason } => {
            eprintln!(
                "{}pktsample: not capturing on {name}: {reason}",
                clear(status)
            )
        }
        LiveEvent::Part(p) => {
            if status {
                eprintln!("{}pktsample: wrote {}", clear(status), p.display());
            }
        }
        LiveEvent::Status {
            samples,
            drops,
            elapsed,
        } => {
            if status {
                let secs = (*elapsed - shown.1).as_secs_f64().max(1e-3);
                eprint!(
                    "\r{samples} samples ({:.0}/s), {drops} drops, {:.0}s  ",
                    (samples - shown.0) as f64 / secs,
                    elapsed.as_secs_f64()
                );
                *shown = (*samples, *elapsed);
            }
        }
    }
}

/// Start a note on a fresh line when a status line is showing.
fn clear(status: bool) -> &'static str {
    if status { "\r\x1b[K" } else { "" }
}
