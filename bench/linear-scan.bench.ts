/**
 * SPN scan speed (src/ops/linear-scan.ts) at the STPN working size 427x240 (854x480 halved), for
 * C = 8 and 32 property channels: one direction (a contiguous top→bottom scan and a strided
 * left→right one), the 4-direction `propagate4` forward, and forward + `propagate4Backward`.
 * Median of `runs` after one warm-up; each figure is given from wall time and from the process's
 * CPU time, and as a ratio to a reference measured interleaved in the same run: a plain 3x3 box
 * filter over the same C x H x W array (one cheap, memory-bound pass), which is what stays
 * comparable across machines and load.
 *
 *   node --import tsx bench/linear-scan.bench.ts [--runs 7] [--channels 8,32] [--gates smooth|random|both]
 *
 * Gates: `smooth` (default) are spatially smooth random fields plus a little noise, scaled so
 * that about a third of the triples have Σ|g| ≥ 1 and get normalised — like a guidance network's
 * output; `random` are i.i.d. uniform in [−0.5, 0.5], the worst case for the branches of the
 * normalisation and the max merge (which win is unpredictable pixel to pixel).
 */
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { propagate4, propagate4Backward, type ScanDirection, scan3 } from '../src/ops/linear-scan.js';
import { argValue, machine, median } from './common.js';

const WIDTH = 427;
const HEIGHT = 240;

export interface ScanBenchRow {
  what: string;
  C: number;
  gates: 'smooth' | 'random';
  wallMs: number;
  cpuMs: number;
  /** Median wall time of the 3x3 box filter over the same C x H x W array, timed interleaved. */
  referenceMs: number;
  ratio: number;
}

/** Deterministic uniform [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** `planes` smooth random planes: a separable low-frequency pattern per plane plus noise. */
function smoothPlanes(planes: number, amplitude: number, noise: number, rand: () => number): Float32Array {
  const n = HEIGHT * WIDTH;
  const a = new Float32Array(planes * n);
  const col = new Float64Array(WIDTH);
  const row = new Float64Array(HEIGHT);
  for (let p = 0; p < planes; p++) {
    const [fx, fy, px, py, off] = [0.005 + 0.03 * rand(), 0.005 + 0.03 * rand(), 6.3 * rand(), 6.3 * rand(), rand() - 0.5];
    for (let x = 0; x < WIDTH; x++) col[x] = Math.sin(fx * x + px);
    for (let y = 0; y < HEIGHT; y++) row[y] = Math.cos(fy * y + py);
    for (let y = 0; y < HEIGHT; y++) {
      const base = p * n + y * WIDTH;
      for (let x = 0; x < WIDTH; x++) a[base + x] = amplitude * (0.5 * off + row[y] * col[x]) + noise * (rand() - 0.5);
    }
  }
  return a;
}

function makeGates(C: number, kind: 'smooth' | 'random', rand: () => number): Float32Array {
  if (kind === 'random') return Float32Array.from({ length: 12 * C * HEIGHT * WIDTH }, () => rand() - 0.5);
  return smoothPlanes(12 * C, 0.55, 0.05, rand);
}

/** Reference workload: 3x3 box filter of a planar C x H x W array (interior pixels). */
function boxFilter(src: Float32Array, C: number, out: Float32Array): void {
  const plane = HEIGHT * WIDTH;
  for (let c = 0; c < C; c++) {
    for (let y = 1; y < HEIGHT - 1; y++) {
      for (let x = 1; x < WIDTH - 1; x++) {
        const i = c * plane + y * WIDTH + x;
        out[i] =
          (src[i - WIDTH - 1] +
            src[i - WIDTH] +
            src[i - WIDTH + 1] +
            src[i - 1] +
            src[i] +
            src[i + 1] +
            src[i + WIDTH - 1] +
            src[i + WIDTH] +
            src[i + WIDTH + 1]) /
          9;
      }
    }
  }
}

function measure(runs: number, f: () => void, reference: () => void): { wall: number; cpu: number; ref: number } {
  f(); // warm-up (JIT, first-touch of buffers)
  reference();
  const wall: number[] = [];
  const cpu: number[] = [];
  const ref: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    reference();
    const t2 = performance.now();
    wall.push(t1 - t0);
    cpu.push((c1.user + c1.system) / 1000);
    ref.push(t2 - t1);
  }
  return { wall: median(wall), cpu: median(cpu), ref: median(ref) };
}

export function runLinearScanBench(options: { runs?: number; channels?: number[]; gates?: ('smooth' | 'random')[] } = {}): ScanBenchRow[] {
  const runs = options.runs ?? 7;
  const rows: ScanBenchRow[] = [];
  for (const C of options.channels ?? [8, 32]) {
    const n = C * HEIGHT * WIDTH;
    const rand = lcg(1234 + C);
    const x = smoothPlanes(C, 2, 0.2, rand);
    const dOut = smoothPlanes(C, 1, 0.5, rand);
    const out = new Float32Array(n);
    const ref = new Float32Array(n);
    const reference = () => boxFilter(x, C, ref);
    const dx = new Float32Array(n);
    for (const kind of options.gates ?? ['smooth', 'random']) {
      const gates = makeGates(C, kind, rand);
      const dGates = new Float32Array(12 * n);
      const cases: [string, () => void][] = [];
      if (kind === 'smooth') {
        // one direction, gates used as given (the first triple's groups, already in the stable range after /3)
        const g = gates.subarray(0, 3 * n).map((v) => v / 3);
        for (const dir of ['top-bottom', 'left-right'] as ScanDirection[]) {
          cases.push([
            `scan3 ${dir}`,
            () => scan3(x, g.subarray(0, n), g.subarray(n, 2 * n), g.subarray(2 * n), C, HEIGHT, WIDTH, dir, out),
          ]);
        }
      }
      cases.push(['propagate4', () => propagate4(x, gates, C, HEIGHT, WIDTH, { out })]);
      cases.push([
        'propagate4 + backward',
        () => {
          propagate4(x, gates, C, HEIGHT, WIDTH, { out });
          propagate4Backward(dOut, x, gates, C, HEIGHT, WIDTH, { dx, dGates });
        },
      ]);
      for (const [what, f] of cases) {
        const m = measure(what.includes('backward') ? Math.max(3, runs - 2) : runs, f, reference);
        rows.push({ what, C, gates: kind, wallMs: m.wall, cpuMs: m.cpu, referenceMs: m.ref, ratio: m.wall / m.ref });
        const r = rows[rows.length - 1];
        console.log(
          `${what.padEnd(24)} C=${String(C).padStart(2)} ${kind.padEnd(6)}  ${r.wallMs.toFixed(1).padStart(7)} ms (cpu ${r.cpuMs.toFixed(1).padStart(7)})  box ${r.referenceMs.toFixed(2).padStart(6)} ms  ratio ${r.ratio.toFixed(1)}`,
        );
      }
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(argValue('runs', '7'));
  const channels = (argValue('channels', '8,32') ?? '8,32').split(',').map(Number);
  const g = argValue('gates', 'both');
  const gates: ('smooth' | 'random')[] = g === 'both' ? ['smooth', 'random'] : [g as 'smooth' | 'random'];
  console.log(
    `# SPN scan, ${WIDTH}x${HEIGHT}, ${machine()}, load average ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}, ${new Date().toISOString()}`,
  );
  runLinearScanBench({ runs, channels, gates });
  console.log(
    `load average after: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
}
