/**
 * Command-line values: every numeric flag goes through one of these parsers, so a bad value is an
 * error naming the flag before anything runs (commander reports it with the flag's name).
 */
import { InvalidArgumentError } from 'commander';
import { InputError } from '../core/errors.js';

function bounds(min: number, max: number): string {
  if (Number.isFinite(min) && Number.isFinite(max)) return ` in ${min}..${max}`;
  if (Number.isFinite(min)) return ` >= ${min}`;
  if (Number.isFinite(max)) return ` <= ${max}`;
  return '';
}

/** commander argParser: an integer >= min (and <= max). */
export const intArg =
  (min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY) =>
  (raw: string): number => {
    const v = Number(raw);
    if (!/^[+-]?\d+$/.test(raw.trim()) || v < min || v > max) throw new InvalidArgumentError(`expected an integer${bounds(min, max)}`);
    return v;
  };

/** commander argParser: a finite number > 0. */
export const positiveArg = (raw: string): number => {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError('expected a positive number');
  return v;
};

/** commander argParser: WIDTHxHEIGHT, both >= 16. */
export const sizeArg = (raw: string): { width: number; height: number } => {
  const m = /^(\d+)x(\d+)$/.exec(raw.trim());
  if (!m || Number(m[1]) < 16 || Number(m[2]) < 16)
    throw new InvalidArgumentError('expected WIDTHxHEIGHT, each at least 16 (e.g. 320x240)');
  return { width: Number(m[1]), height: Number(m[2]) };
};

/** commander argParser: comma-separated object ids 1..255. */
export const idListArg = (raw: string): number[] => {
  const ids = raw.split(',').map((v) => v.trim());
  if (ids.some((v) => !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 255))
    throw new InvalidArgumentError('expected comma-separated object ids in 1..255');
  return ids.map(Number);
};

/** commander argParser for repeatable options: collects into a list. */
export const collect = (raw: string, previous: string[] | undefined): string[] => [...(previous ?? []), raw];

/** Repeated `--option key=value` → an options object (values stay strings; the engine's schema converts them). */
export function parseKeyValues(flag: string, list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InputError(flag, `"${item}" is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** `ID:FRAME` pairs of --remove-object. */
export function parseRemovals(list: readonly string[] | undefined): Array<{ id: number; from: number }> {
  return (list ?? []).map((item) => {
    const m = /^(\d+):(\d+)$/.exec(item.trim());
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 255)
      throw new InputError('--remove-object', `"${item}" is not OBJECT_ID:FRAME (id 1..255)`);
    return { id: Number(m[1]), from: Number(m[2]) };
  });
}
