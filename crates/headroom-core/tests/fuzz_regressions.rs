//! Regression tests for what the fuzz targets (`fuzz/`) found. Each test names its target and
//! the input; inputs are also kept in `fuzz/seeds/<target>/`.

use headroom_core::platform::linux::line_value;
use std::time::Duration;

/// Runs `f` on a thread and reports whether it returned within `within` (a hang is a failure;
/// the spinning thread ends with the test process).
fn finishes(within: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(within).is_ok()
}

/// fuzz target `proc_linux`, input: empty. `line_value` with an empty key never returns
/// (`memmem::find` matches "" at `from` again and again: `from = end_of_key` does not advance).
/// Production keys are non-empty constants, so no outside input reaches it; the fix belongs in
/// `platform/linux.rs` (advance `from` by at least one byte, or return `None` for an empty key).
#[test]
fn line_value_with_an_empty_key_returns() {
    assert!(finishes(Duration::from_secs(2), || {
        let _ = line_value("", "", b':');
        let _ = line_value("a b\n", "", b' ');
    }));
}

/// The non-empty keys the product uses return on texts without the key, with the key at the
/// very end, and without a final newline (inputs from the `proc_linux` corpus).
#[test]
fn line_value_terminates_on_corpus_shapes() {
    assert!(finishes(Duration::from_secs(2), || {
        for text in [
            "",
            ":",
            "MemTotal",
            "MemTotal:",
            "xMemTotal: 1\n",
            "MemTotal: 1",
        ] {
            assert_eq!(line_value(text, "MemTotal", b':'), None, "{text:?}");
        }
        assert_eq!(line_value("MemTotal: 1\n", "MemTotal", b':'), Some(" 1"));
    }));
}
