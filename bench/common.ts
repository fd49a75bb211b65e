/** Shared helpers of the benchmark scripts (not part of the library). */
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IndexedFrame, PropertyMap, RgbFrame, Task } from '../src/core/types.js';
import type { Engine } from '../src/engines/types.js';
import { pilRgbToYcbcr } from '../src/formats/color.js';
import { MsnScorer } from '../src/memory/msn.js';
import { type GuidePolicy, selected } from '../src/memory/policy.js';
import { psnr, vpnComposeOutput } from '../src/metrics/color.js';
import { openVideo } from '../src/session/open.js';
import { createScene, sceneFrameSource } from '../src/synth/index.js';
import { composeColor } from '../src/tasks/color/index.js';
import type { FrameSource } from '../src/video/types.js';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const sharedData = resolve(projectRoot, '..', 'shared', 'data');
export const davisRoot = join(sharedData, 'davis');

/** DAVIS-2016 dev-10 sequences available in ../shared/data/davis. */
export const DEV_SEQUENCES = [
  'blackswan',
  'bmx-trees',
  'breakdance',
  'camel',
  'car-roundabout',
  'cows',
  'dog',
  'goat',
  'kite-surf',
  'parkour',
];

/** The DAVIS dev folds: fold models named `-foldA` score these and were trained on the other five. */
export const FOLD_A = ['blackswan', 'bmx-trees', 'breakdance', 'camel', 'car-roundabout'];

/** `training/models/PREFIX-foldA` for a fold-A sequence, `-foldB` otherwise: the fold model that never saw `seq`. */
export function foldModel(prefix: string, seq: string): string {
  return join(projectRoot, 'training', 'models', `${prefix}-fold${FOLD_A.includes(seq) ? 'A' : 'B'}`);
}

/** stpn colour options for `seq`: its `variant` (stpn or btpn) picks the fold model that never saw the sequence. */
export function stpnColorFoldOptions(options: Record<string, string>, seq: string): Record<string, string> {
  const { variant, ...rest } = options;
  return { ...rest, model: foldModel(`${variant === 'btpn' ? 'btpn' : 'stpn'}-color`, seq) };
}

/** The dev sequences that are in VPN's colour validation split (the VPN colour protocol's set). */
export const VPN_VAL_IN_DEV = ['blackswan', 'bmx-trees', 'breakdance', 'dog', 'kite-surf'];

/**
 * Clean VPN-protocol PSNR (ANCHORS §1.5) of Lab chroma `ab` predicted for grey frame `grey`:
 * ground-truth luma (from `truthYcc`, the truth's PIL YCbCr) + the prediction's Cb, Cr.
 */
export function vpnCleanPsnr(ab: PropertyMap, grey: RgbFrame, truth: RgbFrame, truthYcc: Uint8Array): number {
  const n = truth.width * truth.height;
  const predicted = pilRgbToYcbcr(composeColor(grey, ab).data, n);
  const Y = new Float32Array(n);
  const cb = new Float32Array(n);
  const cr = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    Y[i] = truthYcc[i * 3];
    cb[i] = predicted[i * 3 + 1];
    cr[i] = predicted[i * 3 + 2];
  }
  return psnr(vpnComposeOutput(Y, cb, cr, n, { contrastStretch: false }), truth.data);
}

/**
 * The guide policy of a bench's `--memory previous|selected --top-k K [--pool-cap N] [--joint]
 * [--with-previous] --msn PREFIX` flags for one sequence: undefined (the engine's own policy) for `previous`; for
 * `selected`, MSN with the fold selector that never saw the sequence
 * (`training/models/PREFIX-foldA` scores fold A), or the bundled one with `--msn bundled`.
 */
export class MemoryFlags {
  readonly memory = argValue('memory', 'previous') as string;
  readonly topK = Number(argValue('top-k', '1'));
  readonly poolCap = Number(argValue('pool-cap', '200'));
  readonly joint = hasFlag('joint');
  readonly withPrevious = hasFlag('with-previous');
  readonly msn: string;
  private readonly scorers = new Map<string, MsnScorer>();

  constructor(readonly task: Task) {
    if (this.memory !== 'previous' && this.memory !== 'selected')
      throw new Error(`--memory must be previous or selected, got ${this.memory}`);
    this.msn = argValue('msn', `msn-${task}`) as string;
  }

  /** For titles: "" or " memory selected top-K (PREFIX)". */
  describe(): string {
    return this.memory === 'selected'
      ? ` memory selected top-${this.topK}${this.joint ? ' joint' : ''}${this.poolCap < 200 ? ` pool-cap ${this.poolCap}` : ''}${this.withPrevious ? ' +previous' : ''} (${this.msn})`
      : '';
  }

  async guidesFor(seq: string): Promise<GuidePolicy | undefined> {
    if (this.memory === 'previous') return undefined;
    const key = this.msn === 'bundled' ? 'bundled' : FOLD_A.includes(seq) ? 'A' : 'B';
    let scorer = this.scorers.get(key);
    if (!scorer) {
      scorer = await MsnScorer.load(this.task, key === 'bundled' ? {} : { prefix: foldModel(this.msn, seq) });
      this.scorers.set(key, scorer);
    }
    return selected(this.topK, scorer, { ensemble: !this.joint, poolCap: this.poolCap, withPrevious: this.withPrevious });
  }
}

export function requireShared(rel: string): string {
  const p = join(sharedData, rel);
  if (!existsSync(p)) {
    console.error(`skipped: needs ../shared/data/${rel}, which is absent`);
    process.exit(0);
  }
  return p;
}

export function machine(): string {
  return `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function argValue(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** `ENGINE:key=value:...` (a bench's engine spec) → the engine name and its options as strings. */
export function parseEngineSpec(spec: string): { name: string; options: Record<string, string> } {
  const [name, ...opts] = spec.split(':');
  return { name, options: Object.fromEntries(opts.map((o) => o.split('=') as [string, string])) };
}

export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** A view of a source whose frames are replaced by their luma (R = G = B = Y), as a grey video. */
export function greySource(src: FrameSource): FrameSource {
  const toGrey = (f: IndexedFrame): IndexedFrame => {
    const d = new Uint8Array(f.data.length);
    for (let i = 0; i < d.length; i += 3) {
      const y = Math.round(0.299 * f.data[i] + 0.587 * f.data[i + 1] + 0.114 * f.data[i + 2]);
      d[i] = d[i + 1] = d[i + 2] = y;
    }
    return { index: f.index, width: f.width, height: f.height, data: d };
  };
  async function* frames(from?: number, to?: number): AsyncGenerator<IndexedFrame> {
    for await (const f of src.frames(from, to)) yield toGrey(f);
  }
  return {
    info: src.info,
    frame: async (i) => toGrey(await src.frame(i)),
    frames,
    [Symbol.asyncIterator]: () => frames(),
    close: () => src.close(),
  };
}

/** 3x3 box filter of planar C x H x W (edges clamped): a memory-bound reference kernel. */
export function box3(src: Float32Array, C: number, W: number, H: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let c = 0; c < C; c++) {
    const o = c * W * H;
    for (let y = 0; y < H; y++) {
      const y0 = o + Math.max(0, y - 1) * W;
      const y1 = o + y * W;
      const y2 = o + Math.min(H - 1, y + 1) * W;
      for (let x = 0; x < W; x++) {
        const xa = Math.max(0, x - 1);
        const xb = Math.min(W - 1, x + 1);
        out[y1 + x] =
          (src[y0 + xa] +
            src[y0 + x] +
            src[y0 + xb] +
            src[y1 + xa] +
            src[y1 + x] +
            src[y1 + xb] +
            src[y2 + xa] +
            src[y2 + x] +
            src[y2 + xb]) /
          9;
      }
    }
  }
  return out;
}

/**
 * Memory over a long video: `engine` propagates a synthetic one-object scene of `frames` frames
 * (seed 5) forward from frame 0's mask; RSS is sampled every 100 frames. Returns the report line.
 */
export async function longRunMemory(engine: Engine, frames: number, width: number, height: number): Promise<string> {
  const long = createScene({ seed: 5, width, height, frames, objects: 1 });
  const s = await openVideo(sceneFrameSource(long), { task: 'mask', engine, memoryFrames: 12 });
  s.addKeyframe(0, { mask: long.render(0).labels });
  const samples: string[] = [];
  let first = 0;
  let peak = 0;
  const t0 = performance.now();
  for await (const r of s.propagate({ direction: 'forward' })) {
    if (r.index > 0 && r.index % 100 === 0) {
      const rss = process.memoryUsage().rss / 2 ** 20;
      if (!first) first = rss;
      peak = Math.max(peak, rss);
      samples.push(`${r.index}:${rss.toFixed(0)}`);
    }
  }
  await s.dispose();
  return `${frames} frames ${width}x${height} in ${((performance.now() - t0) / 1000).toFixed(0)} s; RSS MiB at frame ${samples.join(' ')}; growth after frame 100: ${(peak - first).toFixed(0)} MiB`;
}
