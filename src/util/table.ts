/** Plain-text table with right-aligned numeric columns, for terminal reports. */
export function formatTable(header: string[], rows: Array<Array<string | number>>, digits = 3): string {
  const cells = rows.map((r) => r.map((v) => (typeof v === 'number' ? (Number.isFinite(v) ? v.toFixed(digits) : String(v)) : v)));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}
