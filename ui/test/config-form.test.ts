import { describe, expect, it } from 'vitest';
import type { Config, Rule } from '../src/api-types';
import { METRICS, formToRule, formToSettings, issuesByKey, newRule, ruleFieldKey, ruleToForm, settingsToForm, unitOf, type FieldErrors } from '../src/config-form';
import { METRICS as REGISTRY } from '../src/bindings/metrics';

const GIB = 2 ** 30;
const swapRule = {
  id: 'swap-used', name: 'Swap use is above 1 GB', metric: 'swap_used', comparison: 'above', threshold: GIB,
  recovery: 512 * 2 ** 20, for_secs: 0, samples: 1, cooldown_secs: 3600, actions: [{ type: 'notify' }], enabled: true,
} as unknown as Rule;
const rule = (r: object) => r as Rule;

describe('rule forms', () => {
  it('show sizes and durations as people type them and round-trip unchanged', () => {
    const f = ruleToForm(swapRule);
    expect(f.threshold).toBe('1GB');
    expect(f.recovery).toBe('512MB');
    expect(f.forText).toBe('0');
    expect(f.cooldown).toBe('1h');
    const errors: FieldErrors = {};
    expect(formToRule(f, 0, errors)).toEqual(swapRule);
    expect(errors).toEqual({});
  });

  it('keep fields the form does not show', () => {
    const r = rule({ ...swapRule, future_field: 7 });
    expect(formToRule(ruleToForm(r), 0, {})).toMatchObject({ future_field: 7 });
  });

  it('report unparsable sizes and durations with the engine parser messages, keyed like engine issues', () => {
    const f = { ...ruleToForm(swapRule), threshold: '12XB', forText: '1y', recovery: '' };
    const errors: FieldErrors = {};
    const r = formToRule(f, 3, errors);
    expect(errors['rules[3].threshold']).toMatch(/^invalid size "12XB": expected a non-negative number/);
    expect(errors['rules[3].for_secs']).toMatch(/^invalid duration "1y": unknown unit/);
    expect('recovery' in r).toBe(false);
  });

  it('accept rates typed with /s and pass percentages as numbers (range is the engine\'s call)', () => {
    const rate = formToRule({ ...ruleToForm(rule({ ...swapRule, metric: 'swapout_rate' })), threshold: '10MB/s' }, 0, {});
    expect(rate.threshold).toBe(10 * 2 ** 20);
    const pct = formToRule({ ...ruleToForm(rule({ ...swapRule, metric: 'free_percent', threshold: 15 })), threshold: '150' }, 0, {});
    expect(pct.threshold).toBe(150);
  });

  it('build actions from the checkboxes', () => {
    const f = { ...ruleToForm(swapRule), notify: false, clearCache: true, clearScope: 'breaching' as const, setCacheLimit: true, cacheLimit: '256MB' };
    expect(formToRule(f, 0, {}).actions).toEqual([{ type: 'clear_cache', scope: 'breaching' }, { type: 'set_cache_limit', bytes: 256 * 2 ** 20 }]);
    const errors: FieldErrors = {};
    formToRule({ ...f, cacheLimit: 'lots' }, 1, errors);
    expect(Object.keys(errors)).toEqual(['rules[1].actions[1].bytes']);
  });

  it('give new rules unused ids', () => {
    const a = newRule([]);
    const b = newRule([a]);
    expect(a.base.id).not.toBe(b.base.id);
  });
});

describe('engine issues', () => {
  it('go to their field when it is on screen, else to the list', () => {
    const issues = [
      { key: 'rules[0].threshold', value: '150', allowed: '0 to 100', message: 'rules[0].threshold = 150: out of range; allowed: 0 to 100' },
      { key: 'history.max_db_mb', value: '0', allowed: '1 to 65536', message: 'history.max_db_mb = 0: out of range' },
    ];
    const r = issuesByKey(issues, (k) => ruleFieldKey(k) !== null);
    expect(r.fields).toEqual({ 'rules[0].threshold': issues[0]!.message });
    expect(r.other).toEqual([issues[1]!.message]);
    expect(ruleFieldKey('rules[12].actions[0].bytes')).toEqual({ index: 12, field: 'actions[0].bytes' });
  });
});

describe('settings form', () => {
  it('edits the sampling interval and app settings, keeping the rest', () => {
    const base = { sampling: { interval_ms: 1000, mlx_poll_ms: 1000 }, app: { title: 'used_percent' }, server: { listen: '127.0.0.1:9178' }, rules: [swapRule] } as unknown as Config;
    const f = settingsToForm(base);
    expect(f.interval).toBe('1s');
    const errors: FieldErrors = {};
    const c = formToSettings(base, { ...f, interval: '500ms', title: 'mlx_cache' }, errors);
    expect(c.sampling).toEqual({ interval_ms: 500, mlx_poll_ms: 1000 });
    expect(c.app.title).toBe('mlx_cache');
    expect(c.rules).toEqual([swapRule]);
    expect(base.sampling.interval_ms).toBe(1000);
    formToSettings(base, { ...f, interval: 'soon' }, errors);
    expect(errors['sampling.interval_ms']).toMatch(/^invalid duration "soon"/);
  });
});

describe('rule metrics come from the generated registry', () => {
  it('lists every rule name once, with its label and unit', () => {
    const names = REGISTRY.flatMap((m) => (m.rule ? [m.rule] : []));
    expect(METRICS.map((m) => m.id)).toEqual(names);
    expect(new Set(names).size).toBe(names.length);
    expect(METRICS.find((m) => m.id === 'pagein_rate')?.label).toBe('Page-in rate');
    expect(unitOf('pagein_rate')).toBe('rate');
    expect(unitOf('pressure_level')).toBe('level');
    expect(unitOf('process_footprint')).toBe('bytes');
  });
});
