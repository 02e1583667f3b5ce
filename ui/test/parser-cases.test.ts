// The size and parameter-count parsers against the test cases shared with the Rust and Python
// implementations (tests/cases/parsers.json), so the three cannot drift.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSize } from '../src/format';
import { paramCount } from '../src/tools-format';

type Case = [string, number | null];
const cases: { size: Case[]; params: Case[] } = JSON.parse(
  readFileSync(join(__dirname, '../../tests/cases/parsers.json'), 'utf8'),
);

describe('shared parser cases', () => {
  it('parseSize', () => {
    expect(cases.size.length).toBeGreaterThanOrEqual(10);
    for (const [input, want] of cases.size) {
      const r = parseSize(input);
      expect(r.ok ? r.value : null, JSON.stringify(input)).toBe(want);
    }
  });

  it('paramCount', () => {
    expect(cases.params.length).toBeGreaterThanOrEqual(10);
    for (const [input, want] of cases.params) {
      const r = paramCount(input);
      expect(r.ok ? r.value : null, JSON.stringify(input)).toBe(want);
    }
  });
});
