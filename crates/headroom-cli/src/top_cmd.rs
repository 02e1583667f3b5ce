//! `headroom top [-n 10] [--json]`: what holds memory, by app.
//!
//! Exit status: 0 listed; 2 no process could be read.

use crate::output::{emit, exit_code, fail, print_json, safe};
use headroom_core::ops::{self, TopRequest};
use headroom_core::top::TopRow;
use headroom_core::units::format_bytes;

/// Arguments of `headroom top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// How many rows.
    #[arg(short = 'n', long = "count", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,
    /// Print JSON rows (`name`, `footprint` bytes, `pid` or `pids`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `headroom top`.
pub async fn run(args: &TopArgs) -> u8 {
    let req = TopRequest {
        n: Some(u32::from(args.count)),
    };
    let rows = match ops::top(req).await {
        Ok(rows) => rows,
        Err(e) => return fail("top", &e),
    };
    if args.json {
        return exit_code(print_json(&rows, true), 0);
    }
    exit_code(emit(&render(&rows)), 0)
}

/// The text `headroom top` prints.
pub fn render(rows: &[TopRow]) -> String {
    let mut out = format!("{:>10}  {:<28} {}\n", "FOOTPRINT", "APP", "PID");
    for r in rows {
        let pids = match (&r.pids, r.pid) {
            (Some(p), _) => format!(
                "{} ({} processes)",
                p.first().map_or(String::new(), u32::to_string),
                p.len()
            ),
            (None, Some(p)) => p.to_string(),
            (None, None) => String::new(),
        };
        let name: String = safe(&r.name).chars().take(28).collect();
        out += &format!("{:>10}  {name:<28} {pids}\n", format_bytes(r.footprint));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_rows_show_the_process_count() {
        let rows = [
            TopRow {
                name: "chrome".into(),
                footprint: 3 << 30,
                pid: None,
                pids: Some(vec![10, 11, 12]),
            },
            TopRow {
                name: "python3".into(),
                footprint: 1 << 30,
                pid: Some(7),
                pids: None,
            },
        ];
        let t = render(&rows);
        assert!(t.contains("3.0 GB  chrome"), "{t}");
        assert!(t.contains("10 (3 processes)"), "{t}");
        assert!(t.contains("python3"), "{t}");
    }
}
