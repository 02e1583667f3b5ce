// Generated from crates/headroom-core/src/metrics.rs by `cargo test -p headroom-core export_bindings`. Do not edit.

/** A metric's unit (`rate`: bytes per second). */
export type MetricUnit = 'level' | 'percent' | 'bytes' | 'rate' | 'count' | 'seconds';

/** One metric as the registry declares it. */
export interface MetricInfo {
  key: string;
  label: string;
  help: string;
  unit: MetricUnit;
  perProcess: boolean;
  history: string | null;
  aggregation: 'min_avg_max' | 'avg' | 'max' | null;
  prometheus: string | null;
  rule: string | null;
}

/** Every metric, in declaration order. */
export const METRICS: readonly MetricInfo[] = [
  { key: "used", label: "Used", help: "Used memory (Activity Monitor's meaning; Linux total - available)", unit: 'bytes', perProcess: false, history: "used", aggregation: 'min_avg_max', prometheus: "headroom_memory_used_bytes", rule: null },
  { key: "available", label: "Available memory", help: "Memory available without swapping", unit: 'bytes', perProcess: false, history: "available", aggregation: 'avg', prometheus: "headroom_memory_available_bytes", rule: "available" },
  { key: "app", label: "App memory", help: "App memory (anonymous)", unit: 'bytes', perProcess: false, history: "app", aggregation: 'avg', prometheus: "headroom_memory_app_bytes", rule: null },
  { key: "wired", label: "Wired", help: "Wired memory", unit: 'bytes', perProcess: false, history: "wired", aggregation: 'avg', prometheus: "headroom_memory_wired_bytes", rule: null },
  { key: "compressed", label: "Compressed", help: "Memory occupied by the compressed pool", unit: 'bytes', perProcess: false, history: "compressed", aggregation: 'min_avg_max', prometheus: "headroom_memory_compressed_bytes", rule: "compressed" },
  { key: "cached", label: "Cached files", help: "Cached files and purgeable memory", unit: 'bytes', perProcess: false, history: "cached", aggregation: 'avg', prometheus: "headroom_memory_cached_bytes", rule: null },
  { key: "free", label: "Free", help: "Memory not in use", unit: 'bytes', perProcess: false, history: "free", aggregation: 'avg', prometheus: "headroom_memory_free_bytes", rule: null },
  { key: "swap_used", label: "Swap used", help: "Swap in use", unit: 'bytes', perProcess: false, history: "swap_used", aggregation: 'min_avg_max', prometheus: "headroom_swap_used_bytes", rule: "swap_used" },
  { key: "pressure", label: "Pressure level", help: "Memory pressure: 0 normal, 1 warn, 2 critical", unit: 'level', perProcess: false, history: "pressure", aggregation: 'max', prometheus: "headroom_pressure_level", rule: "pressure_level" },
  { key: "free_percent", label: "Free memory %", help: "Free memory percentage (macOS kern.memorystatus_level; Linux MemAvailable/MemTotal)", unit: 'percent', perProcess: false, history: "free_pct_x100", aggregation: 'avg', prometheus: "headroom_pressure_free_percent", rule: "free_percent" },
  { key: "swapin_rate", label: "Swap-in rate", help: "Bytes read back from swap per second", unit: 'rate', perProcess: false, history: "swapin_rate", aggregation: 'avg', prometheus: "headroom_swapins_rate_bytes_per_second", rule: null },
  { key: "swapout_rate", label: "Swap-out rate", help: "Bytes written to swap per second", unit: 'rate', perProcess: false, history: "swapout_rate", aggregation: 'avg', prometheus: "headroom_swapouts_rate_bytes_per_second", rule: "swapout_rate" },
  { key: "compression_rate", label: "Compression rate", help: "Bytes compressed per second", unit: 'rate', perProcess: false, history: "compression_rate", aggregation: 'avg', prometheus: "headroom_compressions_rate_bytes_per_second", rule: "compression_rate" },
  { key: "mlx_cache", label: "MLX cache, all processes", help: "Sum of the MLX allocator caches of attached processes", unit: 'bytes', perProcess: false, history: "mlx_cache", aggregation: 'min_avg_max', prometheus: null, rule: "mlx_cache_total" },
  { key: "pagein_rate", label: "Page-in rate", help: "Bytes read in from disk per second (mapped files such as model weights, and swap)", unit: 'rate', perProcess: false, history: "pagein_rate", aggregation: 'avg', prometheus: "headroom_pageins_rate_bytes_per_second", rule: "pagein_rate" },
  { key: "total", label: "Installed memory", help: "Installed physical memory", unit: 'bytes', perProcess: false, history: null, aggregation: null, prometheus: "headroom_memory_total_bytes", rule: null },
  { key: "swap_total", label: "Swap size", help: "Swap space size", unit: 'bytes', perProcess: false, history: null, aggregation: null, prometheus: "headroom_swap_total_bytes", rule: null },
  { key: "psi_some_avg10", label: "PSI some (avg10)", help: "Linux PSI memory some avg10 (percent of time)", unit: 'percent', perProcess: false, history: null, aggregation: null, prometheus: "headroom_psi_some_avg10", rule: null },
  { key: "psi_full_avg10", label: "PSI full (avg10)", help: "Linux PSI memory full avg10 (percent of time)", unit: 'percent', perProcess: false, history: null, aggregation: null, prometheus: "headroom_psi_full_avg10", rule: null },
  { key: "decompression_rate", label: "Decompression rate", help: "Bytes decompressed per second", unit: 'rate', perProcess: false, history: null, aggregation: null, prometheus: "headroom_decompressions_rate_bytes_per_second", rule: null },
  { key: "gpu_wired_limit", label: "GPU wired limit", help: "iogpu.wired_limit_mb in bytes (0: macOS default)", unit: 'bytes', perProcess: false, history: null, aggregation: null, prometheus: "headroom_gpu_wired_limit_bytes", rule: null },
  { key: "gpu_recommended_working_set", label: "GPU recommended working set", help: "Metal recommendedMaxWorkingSetSize as an MLX agent reports it", unit: 'bytes', perProcess: false, history: null, aggregation: null, prometheus: "headroom_gpu_recommended_working_set_bytes", rule: null },
  { key: "sample_timestamp", label: "Sample time", help: "Wall-clock time of the sample", unit: 'seconds', perProcess: false, history: null, aggregation: null, prometheus: "headroom_sample_timestamp_seconds", rule: null },
  { key: "mlx_processes", label: "MLX processes", help: "Processes that loaded MLX", unit: 'count', perProcess: false, history: null, aggregation: null, prometheus: "headroom_mlx_processes", rule: null },
  { key: "agents_attached", label: "Agents attached", help: "MLX processes with a headroom_agent answering", unit: 'count', perProcess: false, history: null, aggregation: null, prometheus: "headroom_agents_attached", rule: null },
  { key: "process_footprint", label: "Footprint of one process", help: "Physical footprint of the process", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_footprint_bytes", rule: "process_footprint" },
  { key: "process_active", label: "MLX active memory of one process", help: "MLX active memory", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_active_bytes", rule: null },
  { key: "process_mlx_cache", label: "MLX cache of one process", help: "MLX allocator cache", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_cache_bytes", rule: "process_mlx_cache" },
  { key: "process_peak", label: "MLX peak memory of one process", help: "MLX peak memory", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_peak_bytes", rule: null },
  { key: "process_cache_limit", label: "MLX cache limit of one process", help: "MLX cache limit", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_cache_limit_bytes", rule: null },
  { key: "process_memory_limit", label: "MLX memory limit of one process", help: "MLX memory limit", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_memory_limit_bytes", rule: null },
  { key: "process_outside_mlx", label: "Memory outside MLX of one process", help: "Footprint MLX's allocator does not count: footprint - (active + cache)", unit: 'bytes', perProcess: true, history: null, aggregation: null, prometheus: "headroom_mlx_outside_bytes", rule: null },
];

/** The keys of the metrics a history point carries. */
export const HISTORY_KEYS = ["used", "available", "app", "wired", "compressed", "cached", "free", "swap_used", "pressure", "free_percent", "swapin_rate", "swapout_rate", "compression_rate", "mlx_cache", "pagein_rate"] as const;
