/**
 * What the training-data exporters share (scripts/export-*-data.ts): raw little-endian arrays
 * written in one piece, quantisers, and the finish-by-rename of a clip folder, so an interrupted
 * dump never leaves a half clip that looks complete.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RgbFrame } from '../src/core/types.js';

/** Arrays appended in order and written as one file. */
export class Chunks {
  parts: Uint8Array[] = [];
  push(a: ArrayBufferView): void {
    this.parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice());
  }
  write(path: string): void {
    writeFileSync(path, Buffer.concat(this.parts));
  }
}

/** Interleaved RGB → planar (3, H, W) bytes. */
export const planar = (f: RgbFrame): Uint8Array => {
  const n = f.width * f.height;
  const o = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) o[c * n + i] = f.data[i * 3 + c];
  return o;
};

/** Flow in pixels → int16 × 64 (1/64 px steps, ±512 px). */
export const quantFlow = (flow: Float32Array): Int16Array => Int16Array.from(flow, (v) => Math.max(-32768, Math.min(32767, Math.round(v * 64))));

/** Probabilities → uint8 × 255. */
export const quantProb = (p: Float32Array): Uint8Array => Uint8Array.from(p, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

/** Write meta.json into the temporary folder and rename it into place. */
export function finish(tmp: string, dir: string, meta: Record<string, unknown>): void {
  writeFileSync(join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}
