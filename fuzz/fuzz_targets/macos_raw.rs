//! The macOS derivation on arbitrary kernel numbers: `vm_statistics64` words (any count, as
//! `host_statistics64` may return), `vm.swapusage` bytes, sysctl integers and the page size.
#![no_main]

use headroom_core::platform::macos::{
    breakdown, derive, parse_sysctl_uint, parse_xsw_usage, pressure_from_kernel, vm_info, MacRaw,
};
use libfuzzer_sys::fuzz_target;

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, slot) in b.iter_mut().enumerate() {
        *slot = data.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_sysctl_uint(data);
    let swap = parse_xsw_usage(data).ok();
    let words: Vec<u32> = data
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b)
        })
        .collect();
    let vm = vm_info::decode(&words);
    let page_size = u64_at(data, 0);
    let memsize = u64_at(data, 8);
    let _ = breakdown(&vm, page_size, memsize);
    let level = i32::from_le_bytes([data.first().copied().unwrap_or(0), 0, 0, 0]);
    let _ = pressure_from_kernel(level);
    let raw = MacRaw {
        vm: Some(Box::new(vm)),
        vm_count: u32::try_from(words.len()).ok(),
        page_size,
        memsize: Some(memsize),
        swap,
        pressure_level: Some(level),
        memorystatus_level: Some(level.wrapping_sub(100)),
        wired_limit_mb: Some(u64_at(data, 16)),
        ..MacRaw::default()
    };
    let _ = derive(&raw, chrono::DateTime::UNIX_EPOCH);
});
