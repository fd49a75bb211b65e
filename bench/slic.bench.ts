/**
 * SLIC benchmark: 854x480, 12000 and 3000 segments, the default (multiscale) and the textbook
 * (`multiscale: false`) mode, on a synthetic textured frame and, when ../shared/data/davis is
 * present, a real DAVIS frame. Each run times `slic` and then a 3x3 box filter of the same frame
 * back to back, so both see the same load; the figure to compare across machines and load is the
 * SLIC / box-filter ratio (median over runs of each run's ratio; ratio of median CPU times too).
 *
 *   node --import tsx bench/slic.bench.ts [--runs 11] [--mode multiscale|textbook]
 *
 * `runSlicBench()` returns the rows for a benchmark runner; running the file prints them.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSlicWorkspace, slic } from '../src/ops/slic.js';
import { superpixelVpnFeatures } from '../src/ops/superpixel-features.js';

export interface SlicBenchRow {
  image: string;
  mode: 'multiscale' | 'textbook';
  width: number;
  height: number;
  segments: number;
  /** Superpixels produced (after connectivity enforcement). */
  count: number;
  /** Median wall time of `slic` in ms. */
  medianMs: number;
  /** Median process CPU time (user + system) of `slic` in ms; less sensitive to other load. */
  cpuMedianMs: number;
  /**
   * Median wall time of a reference kernel (3x3 box filter of the RGB frame) timed interleaved
   * with `slic`, and the median over runs of (slic time / box-filter time) of the same run,
   * comparable across machines and load.
   */
  referenceMs: number;
  ratio: number;
  /** Median CPU time of `slic` / median CPU time of the box filter. */
  cpuRatio: number;
  /** Median wall time of the 6-D VPN feature means over those superpixels, in ms. */
  featuresMedianMs: number;
  runs: number;
}

const WIDTH = 854;
const HEIGHT = 480;

/** Smooth colour gradients plus blobs plus deterministic noise: textured but with structure. */
export function syntheticFrame(width = WIDTH, height = HEIGHT): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  let s = 0x2545f491;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const noise = ((s >>> 0) % 21) - 10;
      const blob = Math.sin(x * 0.05) * Math.cos(y * 0.07) > 0.3 ? 60 : 0;
      const i = (y * width + x) * 3;
      rgb[i] = clamp8((x * 255) / width + noise + blob);
      rgb[i + 1] = clamp8((y * 255) / height + noise);
      rgb[i + 2] = clamp8(128 + 100 * Math.sin((x + y) * 0.02) + noise - blob);
    }
  }
  return rgb;
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

async function davisFrame(): Promise<{ name: string; rgb: Uint8Array } | undefined> {
  const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..', 'shared', 'data', 'davis', 'JPEGImages', '480p');
  if (!existsSync(root)) return undefined;
  const seqs = readdirSync(root).sort();
  for (const seq of seqs) {
    const frames = readdirSync(join(root, seq))
      .filter((f) => f.endsWith('.jpg'))
      .sort();
    if (frames.length === 0) continue;
    const path = join(root, seq, frames[0]);
    const { default: sharp } = await import('sharp');
    const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.width !== WIDTH || info.height !== HEIGHT || info.channels !== 3) continue;
    return { name: `davis/${seq}/${frames[0]}`, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  }
  return undefined;
}

/** Reference workload: 3x3 box filter of interleaved RGB into planar float (one cheap pass). */
function boxFilterReference(rgb: Uint8Array, width: number, height: number, out: Float32Array): void {
  const n = width * height;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const row = ((y + dy) * width + x) * 3 + c;
          acc += rgb[row - 3] + rgb[row] + rgb[row + 3];
        }
        out[c * n + y * width + x] = acc / 9;
      }
    }
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runSlicBench(runs = 11, modes: SlicBenchRow['mode'][] = ['multiscale', 'textbook']): Promise<SlicBenchRow[]> {
  const images: { name: string; rgb: Uint8Array }[] = [{ name: 'synthetic', rgb: syntheticFrame() }];
  const real = await davisFrame();
  if (real) images.push(real);
  const rows: SlicBenchRow[] = [];
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const c = process.cpuUsage(since);
    return (c.user + c.system) / 1000;
  };
  for (const { name, rgb } of images) {
    for (const segments of [12000, 3000]) {
      for (const mode of modes) {
        const opts = { segments, multiscale: mode === 'multiscale' };
        // A video pipeline reuses one workspace per frame size; so does the benchmark.
        const workspace = createSlicWorkspace(WIDTH, HEIGHT);
        const refOut = new Float32Array(WIDTH * HEIGHT * 3);
        // Warm-up: let V8 optimise both kernels before timing (steady state of a long video).
        for (let w = 0; w < 3; w++) {
          slic(rgb, WIDTH, HEIGHT, { ...opts, workspace });
          boxFilterReference(rgb, WIDTH, HEIGHT, refOut);
        }
        const times: number[] = [];
        const cpu: number[] = [];
        const ftimes: number[] = [];
        const rtimes: number[] = [];
        const rcpu: number[] = [];
        const ratios: number[] = [];
        let count = 0;
        for (let r = 0; r < runs; r++) {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          const res = slic(rgb, WIDTH, HEIGHT, { ...opts, workspace });
          const t1 = performance.now();
          cpu.push(cpuMs(c0));
          superpixelVpnFeatures(rgb, WIDTH, HEIGHT, res.labels, res.count, 0);
          const t2 = performance.now();
          const c2 = process.cpuUsage();
          boxFilterReference(rgb, WIDTH, HEIGHT, refOut);
          const t3 = performance.now();
          rcpu.push(cpuMs(c2));
          times.push(t1 - t0);
          ftimes.push(t2 - t1);
          rtimes.push(t3 - t2);
          ratios.push((t1 - t0) / (t3 - t2));
          count = res.count;
        }
        rows.push({
          image: name,
          mode,
          width: WIDTH,
          height: HEIGHT,
          segments,
          count,
          medianMs: median(times),
          cpuMedianMs: median(cpu),
          referenceMs: median(rtimes),
          ratio: median(ratios),
          cpuRatio: median(cpu) / median(rcpu),
          featuresMedianMs: median(ftimes),
          runs,
        });
      }
    }
  }
  return rows;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const mode = arg('mode') as SlicBenchRow['mode'] | undefined;
  const rows = await runSlicBench(Number(arg('runs') ?? 11), mode ? [mode] : undefined);
  for (const r of rows) {
    console.log(
      `slic ${r.image} ${r.width}x${r.height} segments=${r.segments} ${r.mode} -> K=${r.count}: ` +
        `median ${r.medianMs.toFixed(1)} ms (cpu ${r.cpuMedianMs.toFixed(1)} ms); ${r.ratio.toFixed(2)}x a 3x3 box filter ` +
        `of ${r.referenceMs.toFixed(1)} ms (cpu ratio ${r.cpuRatio.toFixed(2)}x); features ${r.featuresMedianMs.toFixed(1)} ms; ${r.runs} runs`,
    );
  }
}
