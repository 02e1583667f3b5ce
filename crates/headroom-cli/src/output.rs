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

/// Prints a value as JSON on stdout (unsafe characters in strings written as `\uXXXX`
/// escapes: the same JSON, safe on a terminal). A value that does not serialise is reported
/// on stderr (exit code 2); write errors as [`emit`].
pub fn print_json<T: serde::Serialize>(value: &T, pretty: bool) -> Result<(), u8> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    match text {
        Ok(t) => write_line(&headroom_core::text::json_terminal_safe(&t)),
        Err(e) => {
            say(&format!("cannot encode JSON: {e}"));
            Err(2)
        }
    }
}

/// Writes one line to stdout and flushes; errors as [`emit`].
pub fn write_line(line: &str) -> Result<(), u8> {
    emit(&format!("{line}\n"))
}

/// Writes `text` to stdout and flushes, never panicking. `Err(code)` when it could not: a
/// closed pipe (`| head`) is the reader's choice to stop, so it ends quietly with 0; any other
/// error (a full disk, `/dev/full`, an I/O error) is said in one line on stderr and is 2.
pub fn emit(text: &str) -> Result<(), u8> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(0),
        Err(e) => {
            say(&format!("cannot write to standard output: {e}"));
            Err(2)
        }
    }
}

/// `code` when the output was written, else the write error's code.
pub fn exit_code(written: Result<(), u8>, code: u8) -> u8 {
    written.map_or_else(|failed| failed, |()| code)
}

/// One line on stderr, `headroom: ` first; a failing stderr is ignored (never a panic).
pub fn say(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "headroom: {message}");
}

/// Untrusted text (process names, command lines, capture fields, agent messages) as one
/// terminal-safe line: the one escaping function, [`headroom_core::text::terminal_safe`].
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    headroom_core::text::terminal_safe(text)
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
