/**
 * Painting a key-frame: a label image (one object id per pixel, 0 = background) edited with a
 * round brush, an eraser and filled polygons, and drawn as a coloured overlay in the DAVIS
 * palette (the colours the exported palette PNGs show).
 */
import { DAVIS_PALETTE } from '../../src/browser.js';

export interface Labels {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function objectColor(id: number): [number, number, number] {
  return [DAVIS_PALETTE[3 * id], DAVIS_PALETTE[3 * id + 1], DAVIS_PALETTE[3 * id + 2]];
}

export function cssColor(id: number): string {
  const [r, g, b] = objectColor(id);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Set every pixel whose centre lies within `radius` of (cx, cy) to `id`. */
export function paintDisc(l: Labels, cx: number, cy: number, radius: number, id: number): void {
  const r2 = radius * radius;
  const x0 = Math.max(0, Math.floor(cx - radius));
  const x1 = Math.min(l.width - 1, Math.ceil(cx + radius));
  const y0 = Math.max(0, Math.floor(cy - radius));
  const y1 = Math.min(l.height - 1, Math.ceil(cy + radius));
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      if (dx * dx + dy * dy <= r2) l.data[y * l.width + x] = id;
    }
  }
}

/** A brush stroke segment: discs every half radius from (ax, ay) to (bx, by). */
export function paintSegment(l: Labels, ax: number, ay: number, bx: number, by: number, radius: number, id: number): void {
  const length = Math.hypot(bx - ax, by - ay);
  const steps = Math.max(1, Math.ceil(length / Math.max(0.5, radius / 2)));
  for (let s = 0; s <= steps; s++) paintDisc(l, ax + ((bx - ax) * s) / steps, ay + ((by - ay) * s) / steps, radius, id);
}

/** Fill a polygon (even-odd rule, pixel centres) with `id`. */
export function fillPolygon(l: Labels, points: ReadonlyArray<readonly [number, number]>, id: number): void {
  if (points.length < 3) return;
  for (let y = 0; y < l.height; y++) {
    const yc = y + 0.5;
    const xs: number[] = [];
    for (let i = 0; i < points.length; i++) {
      const [x1, y1] = points[i];
      const [x2, y2] = points[(i + 1) % points.length];
      if (y1 <= yc === y2 <= yc) continue;
      xs.push(x1 + ((yc - y1) * (x2 - x1)) / (y2 - y1));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(l.width - 1, Math.floor(xs[k + 1] - 0.5));
      for (let x = from; x <= to; x++) l.data[y * l.width + x] = id;
    }
  }
}

/** The overlay image: object colours where labelled, transparent elsewhere; `dim` fades it (results). */
export function overlayImage(l: Labels, alpha = 255): ImageData {
  const img = new ImageData(l.width, l.height);
  const px = img.data;
  for (let i = 0; i < l.data.length; i++) {
    const id = l.data[i];
    if (id === 0) continue;
    px[4 * i] = DAVIS_PALETTE[3 * id];
    px[4 * i + 1] = DAVIS_PALETTE[3 * id + 1];
    px[4 * i + 2] = DAVIS_PALETTE[3 * id + 2];
    px[4 * i + 3] = alpha;
  }
  return img;
}

/** Ids present in a label image (ascending, background excluded). */
export function idsOf(l: Labels): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < l.data.length; i++) seen[l.data[i]] = 1;
  const out: number[] = [];
  for (let id = 1; id < 256; id++) if (seen[id]) out.push(id);
  return out;
}

export function sameLabels(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
