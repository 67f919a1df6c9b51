//! Progress bars on stderr, only when stderr is a terminal.
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use registry_client::Progress;

/// indicatif bars, one per phase.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    /// Bars if stderr is a terminal and `--json` is off, else nothing.
    pub fn new(json: bool) -> Arc<Self> {
        Arc::new(Self { enabled: !json && std::io::stderr().is_terminal(), bar: Mutex::new(None) })
    }
}

impl Progress for Bars {
    fn start(&self, phase: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(phase.to_owned());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(b) = self.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(bar) = b.take()
        {
            bar.finish_and_clear();
        }
    }
}
