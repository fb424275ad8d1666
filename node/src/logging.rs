//! The node's log: `tracing` events on standard error (standard output carries what a command
//! prints: a status or manifest as JSON, a new API key), with every secret the node knows
//! (keys, keystore passwords, the credentials and API keys in its provider and database URLs)
//! masked in each line before it is written, whichever library wrote the line.

use std::{
    io::Write,
    sync::{Arc, RwLock},
};

use propledger_net::Redactor;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// The secrets to mask, shared by the log writer and whoever learns them (start-up, as keys
/// are loaded). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Scrubber(Arc<RwLock<Redactor>>);

impl Scrubber {
    /// A scrubber that knows no secret yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns a secret.
    pub fn learn(&self, secret: &str) {
        if let Ok(mut r) = self.0.write() {
            r.add(secret);
        }
    }

    /// Learns the secret parts of a URL.
    pub fn learn_url(&self, url: &str) {
        if let Ok(mut r) = self.0.write() {
            r.add_url(url);
        }
    }

    /// `text` with every known secret masked.
    pub fn scrub(&self, text: &str) -> String {
        match self.0.read() {
            Ok(r) => r.scrub(text).into_owned(),
            // A writer panicked while learning: show nothing rather than risk a secret.
            Err(_) => "<log line withheld>".to_owned(),
        }
    }
}

/// Installs the log on standard error (level from `RUST_LOG`, default `info`), each line
/// passed through `scrubber`.
pub fn init(scrubber: Scrubber) {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(ScrubbingWriter(scrubber))
        .init();
}

struct ScrubbingWriter(Scrubber);

impl<'a> MakeWriter<'a> for ScrubbingWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buf: Vec::with_capacity(256),
            scrubber: self.0.clone(),
        }
    }
}

/// One event's text, scrubbed and written whole when the formatter is done with it.
struct Line {
    buf: Vec<u8>,
    scrubber: Scrubber,
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        let text = self.scrubber.scrub(&String::from_utf8_lossy(&self.buf));
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
