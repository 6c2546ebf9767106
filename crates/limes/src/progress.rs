//! Progress bars on standard error (hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting to 1000 (per mille of the job).
pub fn bar(label: &str) -> ProgressBar {
    let b = ProgressBar::new(1000);
    b.set_style(
        ProgressStyle::with_template("{prefix:>16} [{bar:40}] {percent:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_prefix(label.to_string());
    b
}
