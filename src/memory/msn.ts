/**
 * Memory selection (MSN, Wu, Lin, Qi, Jia, ECCV 2020; ANCHORS §5): a light network rates every
 * frame of the guide pool as a guide for the target, from backbone features of the candidate, the
 * target and the pass's key-frame (masked by its mask for the mask task). A `GuideScorer`, so any
 * engine gets it through `selected(k, scorer)`.
 *
 * Sizing (training/README.md, "MSN"): frames are resized to 320 x 160 and the MobileNetV2
 * backbone's s16 level gives 96 x 10 x 20 — the seed's grid (640 x 320 through VGG's stride 32);
 * the network is two ONNX graphs so per-frame work is done once per frame:
 * - embed: features (N, 96, 10, 20) → candidate, target, reference projections (N, P, 10, 20),
 *   computed once per frame of the pool;
 * - head: correlation (N, 3·D², 10, 20) = [corr(a_i, b_t), corr(a_i, c), corr(b_t, c)] (computed
 *   here with `ops/correlation.ts`) and projections (N, 3P, 10, 20) = [a_i, b_t, c] → logits
 *   (N, 2), class 1 = good guide; the score is its softmax.
 * Projections of the pool's frames stay with the scorer (154 KB a frame, plus 97 KB for the
 * frame's correlation with the pass's reference, which does not depend on the target), bounded by
 * the pool cap. Scoring a pool of n candidates costs n head rows and n + 1 correlations of
 * 121 x 200 x P, linear in n (bench/msn.bench.ts).
 */
import type { PropertyMap, RgbFrame, Task } from '../core/types.js';
import type { Backbone } from '../models/backbone.js';
import { type LoadModelOptions, loadModel, type OnnxModel } from '../models/session.js';
import { bundledModelPath } from '../models/weights.js';
import { type CorrelationParams, correlate, correlationShape } from '../ops/correlation.js';
import { resizeBilinearInterleavedU8 } from '../ops/resize.js';
import type { GuideCandidate, GuideScorer, ScoringContext } from './policy.js';

/** The selector's input size (frames are resized to it, whatever their aspect). */
export const MSN_INPUT = { width: 320, height: 160 } as const;
export const MSN_GRID = { channels: 96, height: 10, width: 20 } as const;
/** The engine's correlation (training/vprop_train/msn.py `CORR`): D = 11, 121 channels. */
export const MSN_SELECTOR_CORRELATION: CorrelationParams = { pad: 10, kernelSize: 1, maxDisplacement: 10, stride1: 1, stride2: 2 };

const GRID = MSN_GRID.height * MSN_GRID.width;
const BATCH = 32;

/**
 * Backbone s16 features (96 x 10 x 20, planar) of `frame` resized to 320 x 160. With `keep` (one
 * value per frame pixel, > 0.5 = keep), the other pixels are blacked out first (the seed's
 * "frame-0 image × frame-0 mask").
 */
export async function selectorFeatures(backbone: Backbone, frame: RgbFrame, keep?: Float32Array): Promise<Float32Array> {
  let data = frame.data;
  if (keep) {
    if (keep.length !== frame.width * frame.height)
      throw new RangeError(`selector features: mask has ${keep.length} values for a ${frame.width}x${frame.height} frame`);
    data = new Uint8Array(data);
    for (let i = 0; i < keep.length; i++) if (!(keep[i] > 0.5)) data.fill(0, 3 * i, 3 * i + 3);
  }
  const small = resizeBilinearInterleavedU8(data, 3, frame.width, frame.height, MSN_INPUT.width, MSN_INPUT.height);
  const f = await backbone.extractFeatures({ width: MSN_INPUT.width, height: MSN_INPUT.height, data: small });
  if (f.s16.width !== MSN_GRID.width || f.s16.height !== MSN_GRID.height || f.s16.channels !== MSN_GRID.channels)
    throw new Error(`selector features: backbone gave ${f.s16.channels}x${f.s16.height}x${f.s16.width}, expected 96x10x20`);
  return f.s16.data;
}

/** Foreground of a mask property map (1 − background probability). */
export function foreground(map: PropertyMap): Float32Array {
  const n = map.width * map.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 - map.data[i];
  return out;
}

export interface MsnProjections {
  readonly candidate: Float32Array;
  readonly target: Float32Array;
  readonly reference: Float32Array;
}

/** A pool frame's projections and its correlation with the reference it was last scored against. */
interface PoolEntry extends MsnProjections {
  withReference?: { reference: Float32Array; correlation: Float32Array };
}

export interface MsnScorerOptions {
  /** Name in policy signatures (default `msn-<task>`; `load` uses the model's file name). */
  readonly name?: string;
}

/** The MSN selector as a guide scorer (see the module comment). */
export class MsnScorer implements GuideScorer {
  readonly name: string;
  readonly projected: number;
  private readonly displacements: number;
  /** Reference projections by the key-frame map they were computed from. */
  private readonly references = new WeakMap<Float32Array, Float32Array>();
  /**
   * Projections of the pool's frames, per session (keyed by its feature store; `noStore` when the
   * context has none), pruned to the current pool at every call: the session's feature store
   * holds only the frames of the engine's window, while the pool spans the whole pass.
   */
  private readonly pools = new WeakMap<object, Map<number, PoolEntry>>();
  private readonly noStore = {};

  constructor(
    readonly backbone: Backbone,
    readonly embed: OnnxModel,
    readonly head: OnnxModel,
    readonly task: Task,
    opts: MsnScorerOptions = {},
  ) {
    const outs = embed.outputs.map((o) => o.name);
    if (embed.inputs[0]?.name !== 'features' || !['candidate', 'target', 'reference'].every((n) => outs.includes(n)))
      throw new Error(`${embed.source}: not an MSN embed model (needs input "features", outputs candidate, target, reference)`);
    const ins = head.inputs.map((i) => i.name);
    if (!ins.includes('correlation') || !ins.includes('projections') || head.outputs[0]?.name !== 'logits')
      throw new Error(`${head.source}: not an MSN head model (needs inputs correlation, projections, output logits)`);
    this.projected = Number(embed.metadata.props['vprop.projected'] ?? 64);
    this.displacements = correlationShape(MSN_GRID.height, MSN_GRID.width, MSN_SELECTOR_CORRELATION).displacements;
    this.name = opts.name ?? `msn-${task}`;
  }

  /**
   * The bundled selector of a task (`msn-<task>-embed`, `msn-<task>-head`), or the pair at
   * `prefix` (`PREFIX-embed.onnx`, `PREFIX-head.onnx`).
   */
  static async load(
    task: Task,
    opts: LoadModelOptions & MsnScorerOptions & { prefix?: string; backbone?: Backbone } = {},
  ): Promise<MsnScorer> {
    const { Backbone } = await import('../models/backbone.js');
    const embedPath = opts.prefix ? `${opts.prefix}-embed.onnx` : await bundledModelPath(`msn-${task}-embed`);
    const headPath = opts.prefix ? `${opts.prefix}-head.onnx` : await bundledModelPath(`msn-${task}-head`);
    const [embed, head, backbone] = await Promise.all([
      loadModel(embedPath, opts),
      loadModel(headPath, opts),
      opts.backbone ?? Backbone.load({ runtime: opts.runtime, threads: opts.threads }),
    ]);
    const modelTask = embed.metadata.props['vprop.task'];
    if (modelTask && modelTask !== task) throw new Error(`${embedPath}: an MSN selector for the ${modelTask} task, not ${task}`);
    // The model's file name keys cached results (policy signature), so two selectors never share them.
    const file = embedPath.split(/[\\/]/).pop() ?? embedPath;
    return new MsnScorer(backbone, embed, head, task, { name: `msn:${file.replace(/-embed\.onnx$/, '')}`, ...opts });
  }

  /** The three projections of selector features (96 x 10 x 20). */
  async embedFeatures(features: Float32Array): Promise<MsnProjections> {
    const out = await this.embed.run({ features: { data: features, dims: [1, MSN_GRID.channels, MSN_GRID.height, MSN_GRID.width] } });
    return { candidate: out.candidate.data, target: out.target.data, reference: out.reference.data };
  }

  /**
   * Head logits (N x 2, class 1 = good guide) of candidates with candidate projections `as`
   * against target projection `b` and reference projection `c`. `withReference[n]`, when given,
   * is corr(as[n], c) computed before (it does not depend on the target).
   */
  async headLogits(
    as: readonly Float32Array[],
    b: Float32Array,
    c: Float32Array,
    signal?: AbortSignal,
    withReference?: readonly Float32Array[],
  ): Promise<Float32Array> {
    const P = this.projected;
    const { height: H, width: W } = MSN_GRID;
    const D2 = this.displacements ** 2;
    const logits = new Float32Array(2 * as.length);
    const corrBC = correlate(b, c, P, H, W, MSN_SELECTOR_CORRELATION);
    for (let start = 0; start < as.length; start += BATCH) {
      signal?.throwIfAborted();
      const N = Math.min(BATCH, as.length - start);
      const corr = new Float32Array(N * 3 * D2 * GRID);
      const proj = new Float32Array(N * 3 * P * GRID);
      for (let n = 0; n < N; n++) {
        const a = as[start + n];
        const base = n * 3 * D2 * GRID;
        correlate(a, b, P, H, W, MSN_SELECTOR_CORRELATION, corr.subarray(base, base + D2 * GRID));
        const ac = withReference?.[start + n];
        if (ac) corr.set(ac, base + D2 * GRID);
        else correlate(a, c, P, H, W, MSN_SELECTOR_CORRELATION, corr.subarray(base + D2 * GRID, base + 2 * D2 * GRID));
        corr.set(corrBC, base + 2 * D2 * GRID);
        const pb = n * 3 * P * GRID;
        proj.set(a, pb);
        proj.set(b, pb + P * GRID);
        proj.set(c, pb + 2 * P * GRID);
      }
      const out = await this.head.run({
        correlation: { data: corr, dims: [N, 3 * D2, H, W] },
        projections: { data: proj, dims: [N, 3 * P, H, W] },
      });
      logits.set(out.logits.data, 2 * start);
    }
    return logits;
  }

  /** Projections of one frame, from the pool cache or computed (backbone + embed). */
  private async projections(index: number, frame: () => Promise<RgbFrame>, pool: Map<number, PoolEntry>): Promise<PoolEntry> {
    const hit = pool.get(index);
    if (hit) return hit;
    const p = await this.embedFeatures(await selectorFeatures(this.backbone, await frame()));
    pool.set(index, p);
    return p;
  }

  /** The reference projection: the pass's source key-frame (masked by its mask for masks). */
  private async reference(candidates: readonly GuideCandidate[], ctx: ScoringContext): Promise<Float32Array> {
    const ref = candidates.find((c) => c.isKeyframe && c.order === 0) ?? candidates.find((c) => c.isKeyframe) ?? candidates[0];
    const map = await ctx.property(ref);
    const hit = this.references.get(map.data);
    if (hit) return hit;
    const frame = await ctx.frame(ref.index);
    const features = await selectorFeatures(this.backbone, frame, this.task === 'mask' ? foreground(map) : undefined);
    const { reference } = await this.embedFeatures(features);
    this.references.set(map.data, reference);
    return reference;
  }

  async score(candidates: readonly GuideCandidate[], ctx: ScoringContext): Promise<Float32Array> {
    const scores = new Float32Array(candidates.length);
    if (candidates.length === 0) return scores;
    const owner = ctx.features ?? this.noStore;
    let pool = this.pools.get(owner);
    if (!pool) {
      pool = new Map();
      this.pools.set(owner, pool);
    }
    const keep = new Set(candidates.map((c) => c.index)).add(ctx.target.index);
    for (const index of pool.keys()) if (!keep.has(index)) pool.delete(index);
    const c = await this.reference(candidates, ctx);
    const b = (await this.projections(ctx.target.index, async () => ctx.target.frame, pool)).target;
    const as: Float32Array[] = [];
    const withReference: Float32Array[] = [];
    const { height: H, width: W } = MSN_GRID;
    for (const cand of candidates) {
      const entry = await this.projections(cand.index, () => ctx.frame(cand.index), pool);
      // corr(candidate, reference) is the same for every target of the pass: computed once.
      if (entry.withReference?.reference !== c)
        entry.withReference = { reference: c, correlation: correlate(entry.candidate, c, this.projected, H, W, MSN_SELECTOR_CORRELATION) };
      as.push(entry.candidate);
      withReference.push(entry.withReference.correlation);
    }
    const logits = await this.headLogits(as, b, c, ctx.signal, withReference);
    for (let n = 0; n < candidates.length; n++) scores[n] = 1 / (1 + Math.exp(logits[2 * n] - logits[2 * n + 1]));
    return scores;
  }

  async release(): Promise<void> {
    await Promise.all([this.embed.release(), this.head.release()]);
  }
}
