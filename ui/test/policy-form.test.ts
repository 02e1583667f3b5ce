import { describe, expect, it } from 'vitest';
import type { Policy } from '../src/api-types';
import { formToPolicy, matchText, newPolicy, policyFieldKey, policyToForm, type FieldErrors } from '../src/config-form';

const MIB = 2 ** 20;
const suggested: Policy = {
  id: 'every-mlx-process', enabled: true, cache: 512 * MIB, memory: '75%', wired: '70%',
  idle_trim: { after_secs: 300, cache_above: 100 * MIB },
};

describe('policy forms', () => {
  it('show sizes, percentages and durations as typed and round-trip unchanged', () => {
    const f = policyToForm(suggested);
    expect([f.cache, f.memory, f.wired, f.trimAfter, f.trimAbove]).toEqual(['512MB', '75%', '70%', '5m', '100MB']);
    const errors: FieldErrors = {};
    expect(formToPolicy(f, 0, errors)).toEqual(suggested);
    expect(errors).toEqual({});
  });

  it('leave empty limits and matches out and pass percentages to the engine to check', () => {
    const f = { ...policyToForm(suggested), cache: '', wired: '150%', cmdline: 'mlx_lm[. ]server', trim: false };
    const p = formToPolicy(f, 3, {});
    expect(p).not.toHaveProperty('cache');
    expect(p).not.toHaveProperty('idle_trim');
    expect(p.wired).toBe('150%');
    expect(matchText(p)).toBe('command line /mlx_lm[. ]server/');
    expect(matchText(suggested)).toBe('every MLX process');
  });

  it('report unparsable sizes keyed like engine issues', () => {
    const errors: FieldErrors = {};
    formToPolicy({ ...policyToForm(suggested), memory: '12XB', trimAfter: '1y' }, 2, errors);
    expect(Object.keys(errors).sort()).toEqual(['policies.list[2].idle_trim.after_secs', 'policies.list[2].memory']);
    expect(policyFieldKey('policies.list[2].memory')).toEqual({ index: 2, field: 'memory' });
    expect(policyFieldKey('rules[2].threshold')).toBeNull();
  });

  it('new policies get a free id', () => {
    const list = [policyToForm({ ...suggested, id: 'policy-2' })];
    expect(newPolicy(list).id).toBe('policy-3');
  });
});
