import { useEffect, useRef, useState } from 'preact/hooks';
import type { Config, ConfigIssue, LoadedConfig } from '../api-types';
import { ApiError, type Transport } from '../transport';

export type Check =
  | { state: 'idle' }
  | { state: 'checking' }
  | { state: 'valid' }
  | { state: 'invalid'; message: string; issues: ConfigIssue[] }
  | { state: 'unknown'; message: string };

const DEBOUNCE_MS = 350;

function issuesOf(e: unknown): ConfigIssue[] {
  const issues = e instanceof ApiError ? e.body?.issues : undefined;
  return Array.isArray(issues) ? issues : [];
}

/**
 * Loads the config, validates drafts with the engine (`PUT /api/config?dry_run=1`, debounced,
 * late answers ignored) and saves them.
 */
export function useConfig(transport: Transport) {
  const [loaded, setLoaded] = useState<LoadedConfig | null>(null);
  const [fetchError, setFetchError] = useState<string | null>(null);
  const [check, setCheck] = useState<Check>({ state: 'idle' });
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const seq = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const reload = async () => {
    try {
      setLoaded(await transport.config());
      setFetchError(null);
    } catch (e) {
      setFetchError(e instanceof Error ? e.message : String(e));
    }
  };

  useEffect(() => {
    void reload();
    return () => { if (timer.current) clearTimeout(timer.current); seq.current += 1; };
  }, [transport]);

  /** Asks the engine whether `doc` is valid, after the person stops typing. */
  const validate = (doc: Config | null) => {
    if (timer.current) clearTimeout(timer.current);
    const n = ++seq.current;
    setSaved(null);
    if (doc === null) { setCheck({ state: 'idle' }); return; }
    setCheck({ state: 'checking' });
    timer.current = setTimeout(async () => {
      try {
        await transport.putConfig(doc, true);
        if (n === seq.current) setCheck({ state: 'valid' });
      } catch (e) {
        if (n !== seq.current) return;
        if (e instanceof ApiError && e.status === 400) {
          setCheck({ state: 'invalid', message: e.message, issues: issuesOf(e) });
        } else {
          setCheck({ state: 'unknown', message: e instanceof Error ? e.message : String(e) });
        }
      }
    }, DEBOUNCE_MS);
  };

  const save = async (doc: Config): Promise<boolean> => {
    if (timer.current) clearTimeout(timer.current);
    const n = ++seq.current;
    setSaving(true);
    try {
      const r = await transport.putConfig(doc, false);
      await reload();
      if (n === seq.current) {
        setCheck({ state: 'idle' });
        setSaved(`Saved${r?.path ? ` to ${r.path}` : ''}`);
      }
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        setCheck({ state: 'invalid', message: e.message, issues: issuesOf(e) });
      } else {
        setCheck({ state: 'unknown', message: e instanceof Error ? e.message : String(e) });
      }
      return false;
    } finally {
      setSaving(false);
    }
  };

  return { loaded, fetchError, check, saving, saved, validate, save, reload };
}
