/**
 * Permutohedral lattice throughput: build, splat and slice (and one Gaussian blur) for VPN-sized
 * problems, 400k input and 400k output points by default, d = 4 (colour features Y,x,y,t) and
 * d = 6 (segmentation features Y,Cb,Cr,x,y,t), C = 2, 8, 32 value channels. Median of `runs`.
 *
 *   node --import tsx bench/lattice.bench.ts [--runs 3] [--quick]
 *
 * Points come from a synthetic 854x480 video (smooth moving colour pattern plus noise): inputs are
 * random pixels of the three frames before the target (VPN colour subsamples at random), outputs
 * are the target frame's pixels in raster order; features use the VPN scales of ANCHORS.md
 * §3.1/§3.3. `distribution: 'uniform'` instead draws uniform random features (the worst case:
 * nearly every point creates d+1 new vertices).
 *
 * The machine is shared, so each figure is reported twice: from wall time and from the process's
 * CPU time (user + system), the latter being less sensitive to other load.
 */
import { fileURLToPath } from 'node:url';
import { blurGaussian, buildLattice, slice, splat } from '../src/ops/lattice.js';

export interface LatticeBenchOptions {
  nIn?: number;
  nOut?: number;
  dims?: number[];
  channels?: number[];
  runs?: number;
  distribution?: 'video' | 'uniform';
}

/** Throughput from median wall time and from median CPU time. */
export interface Rate {
  wall: number;
  cpu: number;
}

export interface LatticeBenchRow {
  d: number;
  nIn: number;
  nOut: number;
  /** Lattice vertices. */
  M: number;
  /** (nIn + nOut) points per second through `buildLattice`. */
  buildPointsPerSec: Rate;
  /** Gaussian blur, vertices per second (C = 2; includes the one-off neighbour table on run 1 only). */
  blurVerticesPerSec: Rate;
  perChannels: { C: number; splatPointsPerSec: Rate; slicePointsPerSec: Rate }[];
}

const WIDTH = 854;
const HEIGHT = 480;

/** Deterministic uniform [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** YCbCr of a synthetic frame t at pixel (x, y): a drifting colour pattern with noise. */
function pixel(x: number, y: number, t: number, r: () => number, out: number[]): void {
  const u = x + 3 * t;
  const Y = 128 + 70 * Math.sin(u * 0.021) * Math.cos(y * 0.017) + 20 * (r() - 0.5);
  const Cb = 128 + 40 * Math.sin((u + y) * 0.011) + 8 * (r() - 0.5);
  const Cr = 128 + 40 * Math.cos((u - y) * 0.013) + 8 * (r() - 0.5);
  out[0] = Y;
  out[1] = Cb;
  out[2] = Cr;
}

function videoFeatures(d: number, n: number, frames: number[], seed: number, raster: boolean): Float32Array {
  const r = rng(seed);
  const f = new Float32Array(d * n);
  const ycc = [0, 0, 0];
  const perFrame = WIDTH * HEIGHT;
  for (let k = 0; k < n; k++) {
    const t = frames[raster ? Math.floor(k / perFrame) % frames.length : Math.floor(r() * frames.length)];
    const i = raster ? k % perFrame : Math.floor(r() * perFrame);
    const x = i % WIDTH;
    const y = Math.floor(i / WIDTH);
    pixel(x, y, t, r, ycc);
    const row =
      d === 4 ? [ycc[0] * 0.2, x * 0.04, y * 0.04, t * 0.04] : [ycc[0] * 0.07, ycc[1] * 0.4, ycc[2] * 0.4, x * 0.02, y * 0.02, t * 0.01];
    for (let j = 0; j < d; j++) f[j * n + k] = row[j] ?? 0;
  }
  return f;
}

function uniformFeatures(d: number, n: number, seed: number): Float32Array {
  const r = rng(seed);
  const f = new Float32Array(d * n);
  for (let i = 0; i < f.length; i++) f[i] = 40 * r();
  return f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall and CPU seconds of one call. */
function time(fn: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

/** Items per second from the median wall and the median CPU time of several runs. */
function rate(items: number, ts: { wall: number; cpu: number }[]): Rate {
  return { wall: items / median(ts.map((t) => t.wall)), cpu: items / median(ts.map((t) => t.cpu)) };
}

export async function benchLattice(opts: LatticeBenchOptions = {}): Promise<LatticeBenchRow[]> {
  const nIn = opts.nIn ?? 400_000;
  const nOut = opts.nOut ?? 400_000;
  const dims = opts.dims ?? [4, 6];
  const channels = opts.channels ?? [2, 8, 32];
  const runs = opts.runs ?? 3;
  const rows: LatticeBenchRow[] = [];
  for (const d of dims) {
    const fin = opts.distribution === 'uniform' ? uniformFeatures(d, nIn, 1) : videoFeatures(d, nIn, [7, 8, 9], 1, false);
    const fout = opts.distribution === 'uniform' ? uniformFeatures(d, nOut, 2) : videoFeatures(d, nOut, [10], 2, true);
    const buildTimes: { wall: number; cpu: number }[] = [];
    let lat = buildLattice(fin, nIn, fout, nOut, d);
    for (let i = 0; i < runs; i++) buildTimes.push(time(() => (lat = buildLattice(fin, nIn, fout, nOut, d))));
    const perChannels: LatticeBenchRow['perChannels'] = [];
    let blurVerticesPerSec: Rate = { wall: 0, cpu: 0 };
    for (const C of channels) {
      const r = rng(C);
      const x = new Float32Array(C * nIn);
      for (let i = 0; i < x.length; i++) x[i] = r();
      let S = splat(lat, x, C);
      const splatTimes: { wall: number; cpu: number }[] = [];
      const sliceTimes: { wall: number; cpu: number }[] = [];
      for (let i = 0; i < runs; i++) splatTimes.push(time(() => (S = splat(lat, x, C, S))));
      const y = new Float32Array(C * nOut);
      for (let i = 0; i < runs; i++) sliceTimes.push(time(() => slice(lat, S, C, y)));
      if (C === channels[0]) {
        blurGaussian(lat, S, C); // builds the neighbour table once
        const blurTimes: { wall: number; cpu: number }[] = [];
        for (let i = 0; i < runs; i++) blurTimes.push(time(() => blurGaussian(lat, S, C)));
        blurVerticesPerSec = rate(lat.M, blurTimes);
      }
      perChannels.push({ C, splatPointsPerSec: rate(nIn, splatTimes), slicePointsPerSec: rate(nOut, sliceTimes) });
    }
    rows.push({ d, nIn, nOut, M: lat.M, buildPointsPerSec: rate(nIn + nOut, buildTimes), blurVerticesPerSec, perChannels });
  }
  return rows;
}

function fmt(r: Rate): string {
  const one = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`);
  return `${one(r.wall)}/s wall, ${one(r.cpu)}/s cpu`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const quick = args.includes('--quick');
  const opts: LatticeBenchOptions = {
    runs: runsAt >= 0 ? Number(args[runsAt + 1]) : 3,
    distribution: args.includes('--uniform') ? 'uniform' : 'video',
    ...(quick ? { nIn: 100_000, nOut: 100_000 } : {}),
  };
  const rows = await benchLattice(opts);
  for (const row of rows) {
    console.log(
      `d=${row.d} nIn=${row.nIn} nOut=${row.nOut} M=${row.M}: build ${fmt(row.buildPointsPerSec)} points, blur (C=${opts.channels?.[0] ?? 2}) ${fmt(row.blurVerticesPerSec)} vertices`,
    );
    for (const c of row.perChannels)
      console.log(`  C=${c.C}: splat ${fmt(c.splatPointsPerSec)} points, slice ${fmt(c.slicePointsPerSec)} points`);
  }
}
