/**
 * Optical-flow benchmark: median ms per 854x480 frame pair (5 timed runs after one warm-up) for
 * every available backend (native DIS fast/medium, OpenCV.js Farneback), on a synthetic textured
 * pair with a known sub-pixel translation (so the EPE is reported too) and, when
 * ../shared/data/davis is present, on blackswan frames 0 → 1.
 *
 *   node --import tsx bench/flow.bench.ts
 *
 * `runFlowBench()` returns the rows for a benchmark runner; running the file prints them.
 * Times are for `computeFlow` as a caller sees it (grey conversion and layout change included).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RgbFrame } from '../src/core/types.js';
import { computeFlow, type FlowOptions, flowBackends } from '../src/ops/flow.js';

export interface FlowBenchRow {
  image: string;
  backend: string;
  width: number;
  height: number;
  /** Median wall time of one `computeFlow` call, ms. */
  medianMs: number;
  runs: number;
  /** Mean end-point error (px) against the known translation, 16 px border excluded; synthetic pair only. */
  epe?: number;
  /** Mean flow magnitude (px), a sanity figure for pairs without ground truth. */
  meanMagnitude: number;
}

const WIDTH = 854;
const HEIGHT = 480;
const SHIFT = { dy: 1.5, dx: -2.25 };

/** Sum of sinusoids with wavelengths 6-40 px: smooth, textured, exactly shiftable. */
function syntheticPair(): { prev: RgbFrame; cur: RgbFrame } {
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 4294967296;
  };
  const waves = Array.from({ length: 14 }, () => {
    const k = (2 * Math.PI) / (6 + 34 * rand());
    const th = 2 * Math.PI * rand();
    return { ky: k * Math.sin(th), kx: k * Math.cos(th), ph: 2 * Math.PI * rand(), mix: [rand(), rand(), rand()] };
  });
  const render = (oy: number, ox: number): RgbFrame => {
    const data = new Uint8Array(WIDTH * HEIGHT * 3);
    for (let y = 0; y < HEIGHT; y++) {
      for (let x = 0; x < WIDTH; x++) {
        for (let c = 0; c < 3; c++) {
          let v = 0;
          for (const w of waves) v += Math.sin(w.ky * (y + oy) + w.kx * (x + ox) + w.ph) * (0.4 + w.mix[c]);
          data[(y * WIDTH + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + (150 * v) / waves.length)));
        }
      }
    }
    return { width: WIDTH, height: HEIGHT, data };
  };
  // cur(y, x) = prev(y + dy, x + dx): the backward flow is exactly SHIFT.
  return { prev: render(0, 0), cur: render(SHIFT.dy, SHIFT.dx) };
}

async function davisPair(): Promise<{ prev: RgbFrame; cur: RgbFrame } | undefined> {
  const dir = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'shared', 'data', 'davis', 'JPEGImages', '480p', 'blackswan');
  const a = join(dir, '00000.jpg');
  const b = join(dir, '00001.jpg');
  if (!existsSync(a) || !existsSync(b)) return undefined;
  const { default: sharp } = await import('sharp');
  const load = async (p: string): Promise<RgbFrame> => {
    const { data, info } = await sharp(p).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  };
  return { prev: await load(a), cur: await load(b) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function stats(flow: Float32Array, width: number, height: number, truth?: { dy: number; dx: number }) {
  const n = width * height;
  let mag = 0;
  for (let i = 0; i < n; i++) mag += Math.hypot(flow[i], flow[n + i]);
  if (!truth) return { meanMagnitude: mag / n };
  let epe = 0;
  let count = 0;
  for (let y = 16; y < height - 16; y++) {
    for (let x = 16; x < width - 16; x++) {
      const i = y * width + x;
      epe += Math.hypot(flow[i] - truth.dy, flow[n + i] - truth.dx);
      count++;
    }
  }
  return { meanMagnitude: mag / n, epe: epe / count };
}

export async function runFlowBench(runs = 5): Promise<FlowBenchRow[]> {
  const available = await flowBackends();
  const configs: { label: string; opts: FlowOptions }[] = [];
  if (available.find((b) => b.name === 'dis')?.available) {
    configs.push({ label: 'dis fast (native)', opts: { backend: 'dis', preset: 'fast' } });
    configs.push({ label: 'dis medium (native)', opts: { backend: 'dis', preset: 'medium' } });
  }
  if (available.find((b) => b.name === 'farneback')?.available) {
    configs.push({ label: 'farneback (OpenCV.js)', opts: { backend: 'farneback' } });
  }
  const pairs: { name: string; prev: RgbFrame; cur: RgbFrame; truth?: { dy: number; dx: number } }[] = [
    { name: 'synthetic', ...syntheticPair(), truth: SHIFT },
  ];
  const davis = await davisPair();
  if (davis) pairs.push({ name: 'davis/blackswan 0→1', ...davis });

  const rows: FlowBenchRow[] = [];
  for (const pair of pairs) {
    for (const { label, opts } of configs) {
      await computeFlow(pair.prev, pair.cur, opts); // warm-up: lazy loading, JIT, allocator
      const times: number[] = [];
      let flow: Float32Array = new Float32Array(0);
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        flow = (await computeFlow(pair.prev, pair.cur, opts)).flow;
        times.push(performance.now() - t0);
      }
      const { width, height } = pair.cur;
      rows.push({
        image: pair.name,
        backend: label,
        width,
        height,
        medianMs: median(times),
        runs,
        ...stats(flow, width, height, pair.truth),
      });
    }
  }
  return rows;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const b of await flowBackends()) console.log(`backend ${b.name}: ${b.available ? 'available' : 'unavailable'} (${b.detail})`);
  for (const r of await runFlowBench()) {
    console.log(
      `flow ${r.image} ${r.width}x${r.height} ${r.backend}: median ${r.medianMs.toFixed(1)} ms over ${r.runs} runs, ` +
        `mean |flow| ${r.meanMagnitude.toFixed(2)} px${r.epe === undefined ? '' : `, EPE ${r.epe.toFixed(3)} px`}`,
    );
  }
}
