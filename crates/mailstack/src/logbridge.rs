//! Records of the `log` crate (rustls, sled) into `tracing`, like tracing-log's `LogTracer`,
//! with one change: rustls' warnings become DEBUG. rustls warns about what a *client* did
//! wrong in its handshake (an IP address sent as SNI, an alert it sent); that is the client's
//! mistake, not something the operator must act on, and a failed handshake is logged at DEBUG
//! by the accept loop already (docs/spec.md §7.4).

use log::{Level, LevelFilter, Log, Metadata, Record};
use tracing_log::AsLog;

struct Bridge;

/// The level a `log` record is logged at.
fn level_of(target: &str, level: Level) -> Level {
    if target == "rustls" || target.starts_with("rustls::") {
        level.max(Level::Debug)
    } else {
        level
    }
}

impl Log for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        level_of(metadata.target(), metadata.level()) <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        let level = level_of(record.target(), record.level());
        if level > log::max_level() {
            return;
        }
        let _ = tracing_log::format_trace(
            &Record::builder()
                .level(level)
                .target(record.target())
                .args(*record.args())
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {}
}

/// Installs the bridge; call after the global tracing subscriber is set (its level decides
/// which records are worth formatting at all).
pub fn install() {
    let max: LevelFilter = tracing::level_filters::LevelFilter::current().as_log();
    if log::set_boxed_logger(Box::new(Bridge)).is_ok() {
        log::set_max_level(max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_warnings_are_debug_others_unchanged() {
        assert_eq!(
            level_of("rustls::msgs::handshake", Level::Warn),
            Level::Debug
        );
        assert_eq!(level_of("rustls", Level::Error), Level::Debug);
        assert_eq!(level_of("rustls::conn", Level::Trace), Level::Trace);
        assert_eq!(level_of("sled::pagecache", Level::Warn), Level::Warn);
        assert_eq!(level_of("rustlsish", Level::Warn), Level::Warn);
    }
}
