//! Command output on stdout: human-readable lines, or JSON with `--json` for scripts. Logs go
//! to stderr (see [`crate::logging`]), so piping a command's output never mixes the two.

use serde::Serialize;
use std::io::Write;

/// Writes `text` and a newline to stdout. A closed pipe (`avs-node … | head`) is not an error.
pub fn line(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.as_ref());
}

/// Writes `value` as pretty JSON.
pub fn json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => line(text),
        // Our output types serialize infallibly (string keys, plain values).
        Err(e) => tracing::error!(error = %e, "serializing command output"),
    }
}

/// Writes `value` as JSON when `as_json`, else its human form.
pub fn emit<T: Serialize>(as_json: bool, value: &T, human: impl FnOnce(&T) -> String) {
    if as_json {
        json(value);
    } else {
        line(human(value));
    }
}
