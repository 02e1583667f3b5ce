// Every name the UI shares with a backend, in one place. The Tauri app registers commands
// and emits events under these names; `headroom serve` answers these paths.

/** Tauri command names (the app's `#[tauri::command]` functions). */
export const COMMANDS = {
  snapshot: 'get_snapshot',
  history: 'get_history',
  events: 'get_events',
  config: 'get_config',
  putConfig: 'put_config',
  clearCache: 'clear_cache',
  setLimit: 'set_limit',
  enableAgent: 'enable_agent',
} as const;

/** Tauri event names (the app's `emit`); also the SSE `event:` field of `/api/stream`. */
export const EVENTS = {
  snapshot: 'snapshot',
  journal: 'journal',
} as const;
// (The app shows a view by setting the URL hash — `#alerts` — which the UI follows.)

/** HTTP paths of `headroom serve`. */
export const PATHS = {
  snapshot: '/api/snapshot',
  history: '/api/history',
  events: '/api/events',
  config: '/api/config',
  clearCache: '/api/actions/clear-cache',
  limit: '/api/actions/limit',
  enableAgent: '/api/agent/enable',
  stream: '/api/stream',
} as const;
