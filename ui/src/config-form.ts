// The alert rules and settings as form fields: text as a person types it, turned back into
// the engine's `Config` document. Only *parsing* happens here (sizes and durations, with the
// same rules and messages as `headroom_core::units`); every other check is the engine's,
// asked through `PUT /api/config?dry_run=1`.

import type { Action, Comparison, Config, ConfigIssue, IconStyle, Metric, Policy, Rule, Scope, TitleFormat } from './api-types';
import { durationInput, parseDuration, parseSize, sizeInput } from './format';
import { METRICS as REGISTRY, type MetricUnit } from './bindings/metrics';

export type Unit = 'level' | 'percent' | 'bytes' | 'rate';

/** The metrics rules may watch, with the label and unit shown: read from the engine's metric
 *  registry (`bindings/metrics.ts`, generated), in its order. */
export const METRICS: { id: Metric; label: string; unit: Unit }[] = REGISTRY.flatMap((m) =>
  m.rule ? [{ id: m.rule as Metric, label: m.label, unit: formUnit(m.unit) }] : [],
);

/** Counts and times are typed as plain numbers, like levels and percentages. */
function formUnit(u: MetricUnit): Unit {
  return u === 'count' || u === 'seconds' ? 'percent' : u;
}

export const LEVELS = [
  { value: 0, label: 'Normal' },
  { value: 1, label: 'Warning' },
  { value: 2, label: 'Critical' },
];

export function unitOf(metric: Metric): Unit {
  return METRICS.find((m) => m.id === metric)?.unit ?? 'bytes';
}

/** A rule as form text. `base` keeps the rule as loaded, so fields the form does not show survive. */
export interface RuleForm {
  base: Rule;
  name: string;
  enabled: boolean;
  metric: Metric;
  comparison: Comparison;
  threshold: string;
  recovery: string;
  forText: string;
  samples: string;
  cooldown: string;
  notify: boolean;
  clearCache: boolean;
  clearScope: Scope;
  setCacheLimit: boolean;
  cacheLimit: string;
}

/** A value of `unit` as a person types it. */
export function valueText(unit: Unit, v: number | null | undefined): string {
  if (v == null) return '';
  if (unit === 'bytes' || unit === 'rate') return sizeInput(Math.round(v));
  return String(v);
}

/** Seconds as typed (0 → `0`). */
export function secsText(secs: number | null | undefined): string {
  return !secs ? '0' : durationInput(secs);
}

export function ruleToForm(r: Rule): RuleForm {
  const unit = unitOf(r.metric);
  const actions: Action[] = r.actions ?? [];
  const clear = actions.find((a) => a.type === 'clear_cache');
  const limit = actions.find((a) => a.type === 'set_cache_limit');
  return {
    base: r,
    name: r.name ?? '',
    enabled: r.enabled !== false,
    metric: r.metric,
    comparison: r.comparison,
    threshold: valueText(unit, r.threshold),
    recovery: valueText(unit, r.recovery),
    forText: secsText(r.for_secs),
    samples: String(r.samples ?? 1),
    cooldown: secsText(r.cooldown_secs),
    notify: actions.some((a) => a.type === 'notify'),
    clearCache: !!clear,
    clearScope: clear?.scope ?? 'all',
    setCacheLimit: !!limit,
    cacheLimit: limit ? sizeInput(limit.bytes) : '1GB',
  };
}

/** Field errors keyed like the engine's issues: `rules[0].threshold`. */
export type FieldErrors = Record<string, string>;

function parseValue(unit: Unit, text: string): { ok: true; value: number } | { ok: false; error: string } {
  if (unit === 'bytes' || unit === 'rate') {
    // A rate may be typed with its unit: `10MB/s`.
    return parseSize(unit === 'rate' ? text.replace(/\/s\s*$/i, '') : text);
  }
  const t = text.trim();
  const n = Number(t);
  // Not a number: pass the text through, the engine names the problem.
  return t !== '' && Number.isFinite(n) ? { ok: true, value: n } : { ok: false, error: `invalid number ${JSON.stringify(text)}: expected a number, e.g. 15` };
}

function parseSecs(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '' || t === '0') return { ok: true, value: 0 };
  return parseDuration(t);
}

/** The rule the form describes, and the fields that did not parse. */
export function formToRule(f: RuleForm, i: number, errors: FieldErrors): Rule {
  const unit = unitOf(f.metric);
  const key = (k: string) => `rules[${i}].${k}`;
  const rule: Rule = { ...f.base, name: f.name, enabled: f.enabled, metric: f.metric, comparison: f.comparison };
  const th = parseValue(unit, f.threshold);
  if (th.ok) rule.threshold = th.value; else errors[key('threshold')] = th.error;
  if (f.recovery.trim() === '') delete rule.recovery;
  else {
    const rc = parseValue(unit, f.recovery);
    if (rc.ok) rule.recovery = rc.value; else errors[key('recovery')] = rc.error;
  }
  const fs = parseSecs(f.forText);
  if (fs.ok) rule.for_secs = fs.value; else errors[key('for_secs')] = fs.error;
  const cd = parseSecs(f.cooldown);
  if (cd.ok) rule.cooldown_secs = cd.value; else errors[key('cooldown_secs')] = cd.error;
  const n = Number(f.samples.trim());
  // Whatever number was typed goes to the engine, which says what is allowed.
  if (f.samples.trim() !== '' && Number.isFinite(n)) rule.samples = n;
  else errors[key('samples')] = `invalid number ${JSON.stringify(f.samples)}: expected a whole number, e.g. 1`;
  const actions: Action[] = [];
  if (f.notify) actions.push({ type: 'notify' });
  if (f.clearCache) actions.push({ type: 'clear_cache', scope: f.clearScope });
  if (f.setCacheLimit) {
    const l = parseSize(f.cacheLimit);
    const idx = actions.length;
    if (l.ok) actions.push({ type: 'set_cache_limit', bytes: l.value });
    else errors[`rules[${i}].actions[${idx}].bytes`] = l.error;
  }
  rule.actions = actions;
  return rule;
}

/** A fresh rule id not used by `rules`. */
export function newRuleId(rules: { base: Rule }[]): string {
  const ids = new Set(rules.map((r) => r.base.id));
  let n = rules.length + 1;
  while (ids.has(`rule-${n}`)) n += 1;
  return `rule-${n}`;
}

export function newRule(rules: { base: Rule }[]): RuleForm {
  return ruleToForm({
    id: newRuleId(rules),
    name: 'MLX cache is large',
    metric: 'mlx_cache_total',
    comparison: 'above',
    threshold: 2 * 2 ** 30,
    recovery: 2 ** 30,
    for_secs: 10,
    samples: 1,
    cooldown_secs: 600,
    actions: [{ type: 'notify' }],
    enabled: true,
  });
}

/** Splits the engine's issues by form field; issues with no field on screen are kept apart. */
export function issuesByKey(issues: ConfigIssue[] | undefined, shown: (key: string) => boolean): { fields: FieldErrors; other: string[] } {
  const fields: FieldErrors = {};
  const other: string[] = [];
  for (const i of issues ?? []) {
    const key: string = i.key ?? '';
    if (key && shown(key) && !fields[key]) fields[key] = i.message;
    else other.push(i.message ?? String(i));
  }
  return { fields, other };
}

/** The fields of a rule form, for mapping issue keys (`rules[2].actions[1].bytes` → rule 2). */
export function ruleFieldKey(key: string): { index: number; field: string } | null {
  const m = /^rules\[(\d+)\](?:\.(.+))?$/.exec(key);
  return m ? { index: Number(m[1]), field: m[2] ?? '' } : null;
}

/** Settings fields as typed. */
export interface SettingsForm {
  interval: string;
  title: TitleFormat;
  iconStyle: IconStyle;
  launchAtLogin: boolean;
  httpServer: boolean;
  listen: string;
}

export function settingsToForm(c: Config): SettingsForm {
  return {
    interval: durationInput((c.sampling?.interval_ms ?? 1000) / 1000),
    title: c.app?.title ?? 'used_percent',
    iconStyle: c.app?.icon_style ?? 'color',
    launchAtLogin: !!c.app?.launch_at_login,
    httpServer: !!c.app?.http_server,
    listen: c.server?.listen ?? '',
  };
}

export function formToSettings(base: Config, f: SettingsForm, errors: FieldErrors): Config {
  const c: Config = structuredClone(base);
  const d = parseDuration(f.interval);
  c.sampling = { ...c.sampling };
  if (d.ok) c.sampling.interval_ms = Math.round(d.value * 1000); else errors['sampling.interval_ms'] = d.error;
  c.app = { ...c.app, title: f.title, icon_style: f.iconStyle, launch_at_login: f.launchAtLogin, http_server: f.httpServer };
  c.server = { ...c.server, listen: f.listen };
  return c;
}

export const TITLES: { value: TitleFormat; label: string }[] = [
  { value: 'used_percent', label: 'Used %' },
  { value: 'used_gb', label: 'Used GB' },
  { value: 'free_gb', label: 'Free GB' },
  { value: 'mlx_cache', label: 'MLX cache' },
  { value: 'none', label: 'Nothing (icon only)' },
];

export const ICON_STYLES: { value: IconStyle; label: string }[] = [
  { value: 'color', label: 'Colour by pressure' },
  { value: 'template', label: 'Monochrome' },
];

/** An MLX policy as form text. `base` keeps the policy as loaded, so fields the form does not show survive. */
export interface PolicyForm {
  base: Policy;
  id: string;
  enabled: boolean;
  process: string;
  cmdline: string;
  pythonEnv: string;
  cache: string;
  memory: string;
  wired: string;
  trim: boolean;
  trimAfter: string;
  trimAbove: string;
}

/** A limit as typed: a size (`512MiB`) or a percentage of physical memory (`75%`). */
function limitText(v: number | string | undefined): string {
  if (v == null) return '';
  return typeof v === 'number' ? sizeInput(v) : v;
}

export function policyToForm(p: Policy): PolicyForm {
  return {
    base: p,
    id: p.id,
    enabled: p.enabled !== false,
    process: p.process ?? '',
    cmdline: p.cmdline ?? '',
    pythonEnv: p.python_env ?? '',
    cache: limitText(p.cache),
    memory: limitText(p.memory),
    wired: limitText(p.wired),
    trim: !!p.idle_trim,
    trimAfter: secsText(p.idle_trim?.after_secs ?? 300),
    trimAbove: limitText(p.idle_trim?.cache_above ?? 100 * 2 ** 20),
  };
}

/** A limit field: empty → none; `N%` goes to the engine as typed (it checks the range); a size is parsed here. */
function parseLimit(text: string): { ok: true; value: number | string | undefined } | { ok: false; error: string } {
  const t = text.trim();
  if (t === '') return { ok: true, value: undefined };
  if (t.endsWith('%')) return { ok: true, value: t };
  return parseSize(t);
}

/** The policy the form describes, and the fields that did not parse (keys like the engine's: `policies.list[0].cache`). */
export function formToPolicy(f: PolicyForm, i: number, errors: FieldErrors): Policy {
  const key = (k: string) => `policies.list[${i}].${k}`;
  const p: Policy = { ...f.base, id: f.id.trim(), enabled: f.enabled };
  const text = (v: string) => (v.trim() === '' ? undefined : v.trim());
  p.process = text(f.process);
  p.cmdline = text(f.cmdline);
  p.python_env = text(f.pythonEnv);
  for (const [k, v] of [['cache', f.cache], ['memory', f.memory], ['wired', f.wired]] as const) {
    const l = parseLimit(v);
    if (l.ok) p[k] = l.value; else errors[key(k)] = l.error;
  }
  if (!f.trim) delete p.idle_trim;
  else {
    const after = parseSecs(f.trimAfter);
    const above = parseSize(f.trimAbove);
    if (!after.ok) errors[key('idle_trim.after_secs')] = after.error;
    if (!above.ok) errors[key('idle_trim.cache_above')] = above.error;
    p.idle_trim = { after_secs: after.ok ? after.value : 300, cache_above: above.ok ? above.value : 0 };
  }
  for (const k of ['process', 'cmdline', 'python_env', 'cache', 'memory', 'wired'] as const) {
    if (p[k] === undefined) delete p[k];
  }
  return p;
}

/** A fresh policy id not used by `policies`. */
export function newPolicy(policies: { base: Policy }[]): PolicyForm {
  const ids = new Set(policies.map((p) => p.base.id));
  let n = policies.length + 1;
  while (ids.has(`policy-${n}`)) n += 1;
  return policyToForm({ id: `policy-${n}`, enabled: true, cache: 512 * 2 ** 20 });
}

/** The policy an issue key is about (`policies.list[2].cache` → 2, `cache`). */
export function policyFieldKey(key: string): { index: number; field: string } | null {
  const m = /^policies\.list\[(\d+)\](?:\.(.+))?$/.exec(key);
  return m ? { index: Number(m[1]), field: m[2] ?? '' } : null;
}

/** What a policy matches, for a person (the engine's wording). */
export function matchText(p: Policy): string {
  const parts: string[] = [];
  if (p.process) parts.push(`process ${p.process}`);
  if (p.cmdline) parts.push(`command line /${p.cmdline}/`);
  if (p.python_env) parts.push(`Python environment ${p.python_env}`);
  return parts.length ? parts.join(' and ') : 'every MLX process';
}
