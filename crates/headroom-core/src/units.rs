//! Sizes and durations as people write and read them.
//!
//! Memory sizes follow Activity Monitor's convention: "GB" and "MB" are powers of 1024
//! (what macOS calls GB in its memory views are GiB), so a figure shown as `2.0 GB` can be
//! typed back as `2GB`. `GiB`/`MiB`/`KiB` and bare `G`/`M`/`K` mean the same.

use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
const TIB: u64 = 1024 * GIB;

/// A size or duration that could not be parsed; the message names the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Parses a memory size: `0`, `1048576`, `512MiB`, `512MB`, `512M`, `2GB`, `1.5G`, `1T`.
pub fn parse_size(input: &str) -> Result<u64, ParseError> {
    let s = input.trim();
    let bad = || {
        ParseError(format!(
            "invalid size {input:?}: expected a non-negative number with an optional unit \
             B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (powers of 1024), e.g. 512MiB, 2GB, 1.5G, 0"
        ))
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => KIB,
        "m" | "mb" | "mib" => MIB,
        "g" | "gb" | "gib" => GIB,
        "t" | "tb" | "tib" => TIB,
        _ => return Err(bad()),
    };
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(bad());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(bad);
    }
    let f: f64 = num.parse().map_err(|_| bad())?;
    let bytes = f * mult as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

/// The sum of byte counts, stopping at `u64::MAX` instead of wrapping (two agents that
/// report 2^63 bytes must not add up to 0).
pub fn saturating_sum(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

/// Formats bytes for a person: `12.3 GB` at or above 1 GB, `512.0 MB` below, `0 B` for zero.
pub fn format_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes >= GIB {
        format!("{:.1} GB", b / GIB as f64)
    } else if bytes >= MIB {
        format!("{:.1} MB", b / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KB", b / KIB as f64)
    } else {
        format!("{bytes} B")
    }
}

/// Formats a rate in bytes per second: `1.2 MB/s`.
pub fn format_rate(bytes_per_sec: f64) -> String {
    let rounded = if bytes_per_sec.is_finite() && bytes_per_sec > 0.0 {
        bytes_per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", format_bytes(rounded))
}

/// Parses a duration: `1s`, `500ms`, `2m`, `1h`, `1d`, or a bare number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, ParseError> {
    let s = input.trim();
    let bad = |why: &str| {
        ParseError(format!(
            "invalid duration {input:?}: {why}; expected a positive number with an optional unit \
             ms, s, m, h or d, e.g. 1s, 500ms, 2m"
        ))
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let secs_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(bad("unknown unit")),
    };
    let n: f64 = num.parse().map_err(|_| bad("not a number"))?;
    let secs = n * secs_per_unit;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("must be greater than zero"));
    }
    if secs > 366.0 * 86400.0 {
        return Err(bad("longer than a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        assert_eq!(saturating_sum([1 << 63, 1 << 63]), u64::MAX);
        assert_eq!(saturating_sum([u64::MAX, 5]), u64::MAX);
        assert_eq!(saturating_sum([2, 3]), 5);
        assert_eq!(saturating_sum([]), 0);
    }

    #[test]
    fn sizes_people_write() {
        let cases = [
            ("0", 0),
            ("1048576", 1 << 20),
            ("512MiB", 512 << 20),
            ("512MB", 512 << 20),
            ("512 M", 512 << 20),
            ("2GB", 2 << 30),
            ("1.5G", 3 << 29),
            ("1t", 1 << 40),
            ("64k", 64 << 10),
        ];
        for (input, want) in cases {
            assert_eq!(parse_size(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn bad_sizes_name_the_value() {
        for input in ["", "abc", "-1", "12XB", ".", "1.2.3G", "99999999999T"] {
            let err = parse_size(input).unwrap_err().0;
            assert!(err.contains(&format!("{input:?}")), "{err}");
            assert!(err.contains("512MiB"), "{err}");
        }
    }

    #[test]
    fn formatting_uses_one_decimal_and_mb_under_a_gb() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(512 << 20), "512.0 MB");
        assert_eq!(format_bytes(17_179_869_184), "16.0 GB");
        assert_eq!(format_bytes((1 << 30) - 1), "1024.0 MB");
        assert_eq!(format_rate(1536.0), "1.5 KB/s");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["0", "0s", "abc", "1y", "-1s", ""] {
            let e = parse_duration(bad).unwrap_err().0;
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
