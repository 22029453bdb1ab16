//! The server's logging: lines to stderr (text or JSON), the same lines as JSON in a bounded ring
//! in memory for the API to show and download, and a filter that can change while it runs.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// How many lines the ring keeps, and how long one may be.
const RING_LINES: usize = 10_000;
const LINE_BYTES: usize = 8 * 1024;

#[derive(Default)]
struct Ring(Mutex<VecDeque<String>>);

impl Ring {
    fn push(&self, mut line: String) {
        if line.len() > LINE_BYTES {
            let mut cut = LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        let mut lines = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == RING_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// One event's line on its way into the ring; it goes in whole when the formatter is done.
struct RingLine {
    ring: Arc<Ring>,
    bytes: Vec<u8>,
}

impl Write for RingLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RingLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.bytes);
        let line = text.trim_end();
        if !line.is_empty() {
            self.ring.push(line.to_string());
        }
    }
}

#[derive(Clone)]
struct RingWriter(Arc<Ring>);

impl<'a> fmt::MakeWriter<'a> for RingWriter {
    type Writer = RingLine;

    fn make_writer(&'a self) -> RingLine {
        RingLine { ring: self.0.clone(), bytes: Vec::with_capacity(256) }
    }
}

pub struct Logs {
    filter: reload::Handle<EnvFilter, Registry>,
    ring: Arc<Ring>,
}

impl app::diagnostics::LogControl for Logs {
    fn current(&self) -> String {
        self.filter.with_current(ToString::to_string).unwrap_or_default()
    }

    fn apply(&self, directives: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
        self.filter.reload(filter).map_err(|e| e.to_string())
    }

    fn recent(&self, limit: usize) -> Vec<String> {
        let lines = self.ring.0.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().skip(lines.len().saturating_sub(limit)).cloned().collect()
    }
}

/// Installs the process's logging; returns its control and the level it started with
/// (`RUST_LOG`, else `info`).
pub fn init(format: &str) -> (Arc<Logs>, String) {
    let default =
        std::env::var("RUST_LOG").ok().filter(|d| EnvFilter::try_new(d).is_ok()).unwrap_or_else(|| "info".into());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&default));
    let ring = Arc::new(Ring::default());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json = format == "json";
    let text_lines = (!json).then(|| fmt::layer().with_writer(std::io::stderr).with_ansi(ansi));
    let json_lines = json.then(|| fmt::layer().json().flatten_event(true).with_writer(std::io::stderr));
    let kept = fmt::layer().json().flatten_event(true).with_writer(RingWriter(ring.clone()));
    let _ = tracing_subscriber::registry().with(filter).with(text_lines).with(json_lines).with(kept).try_init();
    (Arc::new(Logs { filter: handle, ring }), default)
}

/// Logging for a server inside another command (the demo), which keeps the terminal to itself:
/// nothing is installed, so the API reports that the level cannot change here.
pub fn detached() -> (Arc<Logs>, String) {
    let (_, handle) = reload::Layer::<EnvFilter, Registry>::new(EnvFilter::new("off"));
    (Arc::new(Logs { filter: handle, ring: Arc::default() }), "off".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_whole_and_bounded() {
        let ring = Arc::new(Ring::default());
        for i in 0..RING_LINES + 5 {
            let mut line = RingWriter(ring.clone()).make_writer_for_test();
            writeln!(line, "{{\"n\":{i}}}").unwrap();
        }
        let long = "é".repeat(LINE_BYTES);
        ring.push(long);
        let lines = ring.0.lock().unwrap();
        assert_eq!(lines.len(), RING_LINES);
        assert_eq!(lines.front().unwrap(), "{\"n\":6}");
        assert!(lines.back().unwrap().len() <= LINE_BYTES);
    }

    impl RingWriter {
        fn make_writer_for_test(&self) -> RingLine {
            fmt::MakeWriter::make_writer(self)
        }
    }
}
