/**
 * Minimal path globbing for CLI arguments (a quoted `clips/STAR.mp4`, STAR being the asterisk):
 * the asterisk, `?` and `[...]` within path segments, no recursive double asterisk. Node 20 has no fs.glob; shells expand unquoted patterns
 * themselves, this covers quoted ones and Windows shells.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { naturalSort } from './natural-sort.js';

export function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        const body = seg
          .slice(i + 1, close)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Paths matching `pattern`, naturally sorted; hidden entries match only patterns that start with a dot. */
export function expandGlob(pattern: string): string[] {
  if (!hasGlob(pattern)) return [pattern];
  const parts = pattern.split(/[\\/]/);
  let bases = [isAbsolute(pattern) ? sep : '.'];
  const start = isAbsolute(pattern) ? 1 : 0;
  for (let i = start; i < parts.length; i++) {
    const seg = parts[i];
    if (seg === '' || seg === '.') continue;
    const next: string[] = [];
    for (const base of bases) {
      if (!hasGlob(seg)) {
        next.push(join(base, seg));
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(base);
      } catch {
        continue;
      }
      const re = segmentRegex(seg);
      for (const n of names) if (re.test(n) && (seg.startsWith('.') || !n.startsWith('.'))) next.push(join(base, n));
    }
    bases = next;
  }
  return naturalSort(
    bases.filter((p) => {
      try {
        statSync(p);
        return true;
      } catch {
        return false;
      }
    }),
  );
}
