import { HttpTransport } from './http';
import { createTauriTransport, isTauri } from './tauri';
import type { Transport } from './types';

export * from './types';
export { HttpTransport } from './http';
export { TauriTransport, isTauri } from './tauri';

/** The transport for where the page runs: the Tauri app, or a browser on `headroom serve`. */
export async function detectTransport(): Promise<Transport> {
  if (isTauri()) return createTauriTransport();
  const token = new URLSearchParams(globalThis.location?.search ?? '').get('token');
  return new HttpTransport({ token });
}
