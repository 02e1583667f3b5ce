//! Untrusted text (names and command lines reported by agents or read from `/proc`, fields of
//! a capture file, journal messages) made safe to print on a terminal and to store as one line.
//!
//! A terminal interprets control characters: `ESC` starts sequences that move the cursor,
//! rewrite the window title or (in some terminals) answer back; `\r` and `\n` overwrite or
//! forge lines; C1 controls (U+0080–U+009F, e.g. U+009B, the one-byte CSI) act like `ESC [` in
//! terminals that honour them; and Unicode bidirectional overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069, Unicode Standard Annex #9) reorder what follows so the text shown is not the
//! text stored ("Trojan Source", CVE-2021-42574). Every such character is shown as a visible
//! escape instead: `\n`, `\r`, `\t`, `\u{1b}`, `\u{202e}`. Other text, including backslashes and
//! non-ASCII letters, is kept as it is.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: a control character (C0, DEL, C1) or a
/// bidirectional formatting character.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character ([`is_unsafe_char`]) replaced by a visible escape; the
/// result is one line. Borrows when there is nothing to escape. Applying it twice changes
/// nothing more.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text (as a JSON encoder writes it) with every unsafe character inside its strings
/// written as a `\uXXXX` escape: the same JSON value, safe to print on a terminal. An encoder
/// already escapes C0 controls inside strings, but not DEL, C1 controls or bidirectional
/// overrides; a raw newline, carriage return or tab is layout between tokens and is kept.
pub fn json_terminal_safe(json: &str) -> Cow<'_, str> {
    let escape = |c: char| is_unsafe_char(c) && !matches!(c, '\n' | '\r' | '\t');
    if !json.chars().any(escape) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if escape(c) {
            // Every unsafe character is in the Basic Multilingual Plane: one \uXXXX escape.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_escapes_and_bidi_overrides_become_visible_and_one_line() {
        let hostile = "mlx\u{1b}]0;pwned\u{7}\nINFO forged\r\u{9b}2J\u{202e}gnp.exe\u{2066}\u{7f}";
        let safe = terminal_safe(hostile);
        assert_eq!(
            safe,
            "mlx\\u{1b}]0;pwned\\u{7}\\nINFO forged\\r\\u{9b}2J\\u{202e}gnp.exe\\u{2066}\\u{7f}"
        );
        assert!(!safe.chars().any(is_unsafe_char));
        assert_eq!(terminal_safe(&safe), safe, "idempotent");
    }

    #[test]
    fn ordinary_text_is_borrowed_unchanged() {
        for s in ["python3.12", "Größe ü 漢字 🙂", "C:\\path\\x", ""] {
            assert!(matches!(terminal_safe(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn json_stays_the_same_value() {
        let v = serde_json::json!({"name": "a\u{1b}[2Jb\u{202e}c\u{85}d\u{7f}"});
        let text = serde_json::to_string_pretty(&v).unwrap();
        let safe = json_terminal_safe(&text);
        assert!(
            !safe.chars().any(|c| c != '\n' && is_unsafe_char(c)),
            "{safe}"
        );
        assert_eq!(safe.lines().count(), text.lines().count(), "layout kept");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
