import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root (one level above test/). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared/data` next to the project root; the read-only development data (never copied in). */
export const sharedDataRoot = resolve(projectRoot, '..', 'shared', 'data');

/**
 * Path of `rel` under ../shared/data, or a skip reason when it is absent. Use as
 * `const p = sharedPath('davis'); test('x', { skip: p.skip }, ...)`.
 */
export function sharedPath(rel: string): { path: string; skip: string | false } {
  const path = join(sharedDataRoot, rel);
  return existsSync(path)
    ? { path, skip: false }
    : { path, skip: `needs ../shared/data/${rel} (absent: shared development data is not in this checkout)` };
}
