//! Logging through tracing, to stdout, a file or journald.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::settings::{LogTarget, Logging};

pub fn init(settings: &Logging) -> Result<(), String> {
    let filter = EnvFilter::try_new(&settings.level)
        .map_err(|e| format!("logging.level {:?}: {e}", settings.level))?;
    let registry = tracing_subscriber::registry().with(filter);
    match settings.target {
        LogTarget::Journald => {
            let journald =
                tracing_journald::layer().map_err(|e| format!("logging.target journald: {e}"))?;
            registry.with(journald).try_init()
        }
        LogTarget::Stdout if settings.json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init(),
        LogTarget::Stdout => registry.with(tracing_subscriber::fmt::layer()).try_init(),
        LogTarget::File => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&settings.file)
                .map_err(|e| format!("logging.file {}: {e}", settings.file.display()))?;
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(file));
            match settings.json {
                true => registry.with(layer.json()).try_init(),
                false => registry.with(layer).try_init(),
            }
        }
    }
    .map_err(|e| format!("logging: {e}"))
}
