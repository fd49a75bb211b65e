/**
 * Natural ("human") ordering of names: digit runs compare as numbers, so `frame2` < `frame10`.
 * Frame folders are ordered by name (the DAVIS and XMem convention), and users do not always
 * zero-pad, so plain code-point order would shuffle frames.
 */

const RUN = /(\d+)|(\D+)/g;

function runs(s: string): string[] {
  return s.match(RUN) ?? [];
}

function isDigits(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** Compare two digit runs by numeric value without parsing (runs may exceed 2^53). */
function compareDigits(a: string, b: string): number {
  const ta = a.replace(/^0+(?=\d)/, '');
  const tb = b.replace(/^0+(?=\d)/, '');
  if (ta.length !== tb.length) return ta.length - tb.length;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return 0;
}

/**
 * Comparator for natural order. Text runs compare case-insensitively first; remaining ties
 * (`01` vs `1`, `A` vs `a`) are broken by plain code-point order so the sort is total and stable
 * across platforms (no locale dependence).
 */
export function naturalCompare(a: string, b: string): number {
  const ra = runs(a);
  const rb = runs(b);
  const n = Math.min(ra.length, rb.length);
  for (let i = 0; i < n; i++) {
    const x = ra[i] as string;
    const y = rb[i] as string;
    const dx = isDigits(x);
    const dy = isDigits(y);
    let c: number;
    if (dx && dy) c = compareDigits(x, y);
    else if (dx !== dy)
      c = dx ? -1 : 1; // numbers before text, as most file browsers do
    else {
      const lx = x.toLowerCase();
      const ly = y.toLowerCase();
      c = lx === ly ? 0 : lx < ly ? -1 : 1;
    }
    if (c !== 0) return c;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a === b ? 0 : a < b ? -1 : 1;
}

/** A naturally sorted copy of `names`. */
export function naturalSort(names: Iterable<string>): string[] {
  return [...names].sort(naturalCompare);
}
