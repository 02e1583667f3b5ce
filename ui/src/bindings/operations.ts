// Generated from crates/headroom-core/src/ops/table.rs by `cargo test -p headroom-core export_bindings`. Do not edit.

/** The app's commands. */
export const COMMANDS = {
  snapshot: 'get_snapshot',
  history: 'get_history',
  events: 'get_events',
  config: 'get_config',
  putConfig: 'put_config',
  clearCache: 'clear_cache',
  setLimit: 'set_limit',
  wiredLimit: 'get_wired_limit',
  checkWiredLimit: 'check_wired_limit',
  setWiredLimit: 'set_wired_limit',
  fit: 'get_fit',
  doctor: 'get_doctor',
  top: 'get_top',
  enableAgent: 'enable_agent',
  pagePainted: 'page_painted',
} as const;

/** `headroom serve`'s paths. */
export const PATHS = {
  snapshot: '/api/snapshot',
  history: '/api/history',
  events: '/api/events',
  config: '/api/config',
  putConfig: '/api/config',
  clearCache: '/api/actions/clear-cache',
  setLimit: '/api/actions/limit',
  wiredLimit: '/api/wired-limit',
  fit: '/api/fit',
  doctor: '/api/doctor',
  top: '/api/top',
  health: '/api/health',
  stream: '/api/stream',
  enableAgent: '/api/agent/enable',
} as const;

/** `headroom serve`'s method of each path. */
export const METHODS = {
  snapshot: 'GET',
  history: 'GET',
  events: 'GET',
  config: 'GET',
  putConfig: 'PUT',
  clearCache: 'POST',
  setLimit: 'POST',
  wiredLimit: 'GET',
  fit: 'GET',
  doctor: 'GET',
  top: 'GET',
  health: 'GET',
  stream: 'GET',
  enableAgent: 'POST',
} as const;

/** The live feed's events (the app's events, the stream's `event:` field). */
export const EVENTS = {
  snapshot: 'snapshot',
  journal: 'journal',
} as const;
