//! The `/proc` and `/sys` parsers, and the whole Linux derivation on arbitrary kernel text.
//! The input is split at NUL bytes into meminfo, vmstat, PSI and zram `mm_stat` texts (the
//! kernel never writes NUL into them); the first 8 bytes choose the page size.
#![no_main]

use headroom_core::platform::linux::{
    complete_lines, derive, line_value, meminfo_field, parse_psi, vmstat_paging, zram_mem_used,
    LinuxRaw, MemInfo, ZramRaw,
};
use headroom_core::platform::{derive_with_rates, RawSample, TimedRaw};
use libfuzzer_sys::fuzz_target;

fn parts(data: &[u8]) -> (u64, Vec<String>) {
    let (head, rest) = data.split_at(data.len().min(8));
    let mut page = [0u8; 8];
    page[..head.len()].copy_from_slice(head);
    let texts = rest
        .split(|&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    (u64::from_le_bytes(page), texts)
}

fn each_parser(text: &str) {
    let _ = MemInfo::parse(text);
    let _ = parse_psi(text);
    let _ = vmstat_paging(text);
    let _ = zram_mem_used(text);
    let _ = meminfo_field(text, "MemAvailable");
    let _ = line_value(text, "pswpin", b' ');
    let _ = line_value(text, "MemTotal", b':');
    let _ = complete_lines(text).count();
}

fuzz_target!(|data: &[u8]| {
    let (page_size, texts) = parts(data);
    for t in &texts {
        each_parser(t);
    }
    let text = |i: usize| texts.get(i).cloned();
    let raw = LinuxRaw {
        meminfo: text(0),
        vmstat: text(1),
        pressure_memory: text(2),
        zram: texts
            .iter()
            .skip(3)
            .map(|t| ZramRaw {
                device: "zram0".into(),
                mm_stat: t.clone(),
            })
            .collect(),
        page_size,
        read_errors: Vec::new(),
    };
    let at = chrono::DateTime::UNIX_EPOCH;
    let _ = derive(&raw, at);
    // Two samples of the same text (then the zero page size): rates over time too.
    let mut tracker = Default::default();
    for (ns, page_size) in [(0, page_size), (page_size, 0)] {
        let mut raw = raw.clone();
        raw.page_size = page_size;
        let timed = TimedRaw {
            monotonic_ns: ns,
            at,
            raw: RawSample::Linux(raw),
        };
        let _ = derive_with_rates(&mut tracker, &timed);
    }
});
