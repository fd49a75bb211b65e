/**
 * Option schemas: what an engine (or any configurable part) accepts, parsed and validated up front.
 * Values may come from the library (typed) or from the command line (strings: numbers, booleans,
 * comma-separated number lists). Unknown names and wrong types are errors that name the option and
 * say what is expected; defaults are filled in, so the parsed object is the effective configuration
 * and its signature says exactly what produced a result.
 */
import { OptionError } from './errors.js';
import { hashOf } from './hash.js';

interface SpecBase {
  readonly description: string;
  /** False for options that do not change results (timings, thread counts): left out of the signature. */
  readonly affectsResult?: boolean;
}

export type OptionSpec =
  | (SpecBase & {
      readonly type: 'number';
      readonly default?: number;
      readonly min?: number;
      readonly max?: number;
      readonly integer?: boolean;
    })
  | (SpecBase & { readonly type: 'boolean'; readonly default?: boolean })
  | (SpecBase & { readonly type: 'string'; readonly default?: string })
  | (SpecBase & { readonly type: 'enum'; readonly values: readonly string[]; readonly default?: string })
  | (SpecBase & { readonly type: 'numbers'; readonly length?: number; readonly default?: readonly number[] })
  /**
   * Library-only values (functions, model bytes, objects). Not settable from the command line.
   * `signature` turns a value into text for the result cache; without it a given value makes the
   * engine's results uncacheable across engine instances (a fresh nonce per parse).
   */
  | (SpecBase & {
      readonly type: 'value';
      readonly accepts: string;
      readonly check?: (v: unknown) => boolean;
      readonly signature?: (v: unknown) => string;
    });

export type OptionSchema = Readonly<Record<string, OptionSpec>>;

export interface ParsedOptions {
  /** Effective values: given ones validated, the rest at their defaults (absent when no default). */
  readonly values: Record<string, unknown>;
  /** Stable text of the result-affecting values (the result cache's key part). */
  readonly signature: string;
}

let nonce = 0;

/**
 * Validate `raw` against `schema`. `owner` names what is configured in messages ("engine
 * bilateral"). Strings are converted where the spec is numeric or boolean (the CLI passes strings).
 */
export function parseOptions(owner: string, schema: OptionSchema, raw: Readonly<Record<string, unknown>> = {}): ParsedOptions {
  const values: Record<string, unknown> = {};
  const known = Object.keys(schema);
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const spec = schema[key];
    if (!spec) {
      const hint = closest(key, known);
      throw new OptionError(
        key,
        `${owner} has no option "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; its options: ${known.join(', ') || 'none'}`,
      );
    }
    values[key] = convert(owner, key, spec, value);
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (values[key] === undefined && 'default' in spec && spec.default !== undefined) values[key] = spec.default;
  }
  const sigParts: string[] = [];
  for (const key of known.sort()) {
    const spec = schema[key];
    const v = values[key];
    if (v === undefined || spec.affectsResult === false) continue;
    if (spec.type === 'value') sigParts.push(`${key}=${spec.signature ? spec.signature(v) : `instance${++nonce}`}`);
    else sigParts.push(`${key}=${JSON.stringify(v)}`);
  }
  return { values, signature: hashOf(sigParts.join(';')) };
}

function convert(owner: string, key: string, spec: OptionSpec, value: unknown): unknown {
  const fail = (expected: string): never => {
    throw new OptionError(key, `${owner}: option ${key} must be ${expected}, got ${describe(value)}`);
  };
  switch (spec.type) {
    case 'number': {
      const x = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      const what = `${spec.integer ? 'an integer' : 'a number'}${range(spec.min, spec.max)}`;
      if (typeof x !== 'number' || !Number.isFinite(x)) return fail(what);
      if (spec.integer && !Number.isInteger(x)) return fail(what);
      if ((spec.min !== undefined && x < spec.min) || (spec.max !== undefined && x > spec.max)) return fail(what);
      return x;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true') return true;
      if (value === 'false') return false;
      return fail('true or false');
    case 'string':
      if (typeof value !== 'string') return fail('a string');
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        const hint = typeof value === 'string' ? closest(value, spec.values) : undefined;
        return fail(`one of ${spec.values.join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`);
      }
      return value;
    case 'numbers': {
      const what = `${spec.length ? `${spec.length} ` : ''}comma-separated numbers`;
      const list = typeof value === 'string' ? value.split(',').map((s) => (s.trim() === '' ? Number.NaN : Number(s))) : value;
      if (!Array.isArray(list) && !ArrayBuffer.isView(list)) return fail(what);
      const arr = Array.from(list as ArrayLike<unknown>);
      if (arr.some((v) => typeof v !== 'number' || !Number.isFinite(v))) return fail(what);
      if (spec.length !== undefined && arr.length !== spec.length) return fail(what);
      return arr as number[];
    }
    case 'value':
      if (typeof value === 'string' && !spec.check?.(value)) return fail(`${spec.accepts} (not settable as text)`);
      if (spec.check && !spec.check(value)) return fail(spec.accepts);
      return value;
  }
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (v !== null && typeof v === 'object') return v.constructor?.name ?? 'an object';
  return String(v);
}

/** The known name nearest to `name` (edit distance ≤ 2 or a prefix), for "did you mean". */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = k.toLowerCase().startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(k.toLowerCase()) ? 1 : editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Help text: one line per option with its type and default. */
export function describeOptions(schema: OptionSchema, indent = '  '): string[] {
  return Object.entries(schema).map(([key, spec]) => {
    let type: string;
    switch (spec.type) {
      case 'number':
        type = `${spec.integer ? 'integer' : 'number'}${range(spec.min, spec.max)}`;
        break;
      case 'enum':
        type = spec.values.join('|');
        break;
      case 'numbers':
        type = spec.length ? `${spec.length} numbers` : 'numbers';
        break;
      case 'value':
        type = `${spec.accepts}, library only`;
        break;
      default:
        type = spec.type;
    }
    const def =
      'default' in spec && spec.default !== undefined
        ? `; default ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)}`
        : '';
    return `${indent}${key} (${type}${def}): ${spec.description}`;
  });
}
