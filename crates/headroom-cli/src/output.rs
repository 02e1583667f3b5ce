//! Terminal output helpers: colour only on a terminal and without `NO_COLOR`.

use headroom_core::ops::OpError;
use headroom_core::snapshot::PressureLevel;
use std::io::IsTerminal;

/// Whether to colour stdout: a terminal, and `NO_COLOR` unset or empty (no-color.org).
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

/// The pressure word, coloured green / yellow / red when `colour`.
pub fn pressure_word(level: Option<PressureLevel>, colour: bool) -> String {
    let Some(level) = level else {
        return "unknown".to_string();
    };
    if !colour {
        return level.word().to_string();
    }
    let code = match level {
        PressureLevel::Normal => "32",
        PressureLevel::Warn => "33",
        PressureLevel::Critical => "31",
    };
    format!("\x1b[1;{code}m{}\x1b[0m", level.word())
}

/// Prints a value as JSON on stdout. Returns false when it could not: a value that does not
/// serialise (reported on stderr) or a closed stdout (`| head`), which is not an error.
pub fn print_json<T: serde::Serialize>(value: &T, pretty: bool) -> bool {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    match text {
        Ok(t) => write_line(&t),
        Err(e) => {
            eprintln!("headroom: cannot encode JSON: {e}");
            false
        }
    }
}

/// Writes one line to stdout and flushes; false when stdout is closed (never panics).
pub fn write_line(line: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// Reports an operation's error on stderr (`headroom: what: message`); the exit status it gives.
pub fn fail(what: &str, e: &OpError) -> u8 {
    if what.is_empty() {
        eprintln!("headroom: {e}");
    } else {
        eprintln!("headroom: {what}: {e}");
    }
    e.exit_code()
}
