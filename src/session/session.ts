import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine, Guide, PropertyMap, Task } from '../engines/types.js';
import { AbortError, throwIfAborted } from '../errors.js';
import { fitWithin, resizeBilinearInterleavedU8, resizeBilinearPlanar } from '../ops/resize.js';
import {
  type Annotation,
  annotationChannels,
  annotationToProperty,
  composeColor,
  propertyToRadiance,
  type RadianceImage,
} from '../tasks/annotation.js';
import { isProbabilityTask, padChannels, probabilitiesToLabels } from '../tasks/maps.js';
import type { FrameSource, IndexedFrame, LabelImage, RgbFrame } from '../video/types.js';
import { FrameStore } from './store.js';

export type Direction = 'forward' | 'backward' | 'both';

export interface Progress {
  /** Frames computed so far in this propagate() call. */
  readonly done: number;
  /** Frames this call will compute (cached frames are not counted). */
  readonly total: number;
  readonly framesPerSecond: number;
  /** Estimated milliseconds left; undefined before the first frame. */
  readonly etaMs: number | undefined;
  readonly frame: number;
}

export interface SessionOptions {
  readonly task: Task;
  readonly engine: Engine;
  /** Longest side the engine works at; frames and key-frames are resized to it, results back up. */
  readonly maxInternalSize?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: Progress) => void;
  /**
   * Where per-frame results are kept (bounded memory; also what makes re-propagation after a new
   * key-frame recompute only the frames it affects). A directory given here persists, so an
   * interrupted run resumes; by default a private temporary directory removed by dispose().
   */
  readonly cacheDir?: string;
  /** Results held in memory before spilling to `cacheDir` (default 16). */
  readonly memoryFrames?: number;
  /** Extra text mixed into result signatures (engine options), so a changed option invalidates the cache. */
  readonly engineSignature?: string;
}

export interface PropagateOptions {
  readonly direction?: Direction;
  /** First frame (inclusive) to yield; default 0. */
  readonly from?: number;
  /** Last frame (inclusive) to yield; default the last frame. */
  readonly to?: number;
  readonly signal?: AbortSignal;
}

export interface PropagationResult {
  readonly index: number;
  readonly isKeyframe: boolean;
  /** The property map at the video's size (task layout, see engines/types.ts). */
  readonly property: PropertyMap;
  /** mask / labels: argmax label image (object or class id per pixel). */
  readonly labels?: LabelImage;
  /** color: the frame with its lightness and the propagated chroma. */
  readonly rgb?: RgbFrame;
  /** hdr: linear radiance. */
  readonly radiance?: RadianceImage;
}

interface Keyframe {
  readonly index: number;
  /** Content hash of the annotation: results signed with it stay valid across sessions. */
  readonly version: string;
  readonly annotation: Annotation;
  /** Property at the video's full size (exact, what the key-frame result yields). */
  readonly full: PropertyMap;
}

/**
 * The propagation workflow: open a source, add key-frames, propagate. Frames stream through;
 * the engine sees only the guides it asks for; results are kept in a bounded FrameStore.
 *
 * Semantics of `propagate`:
 * - forward: each frame after a key-frame is predicted from the nearest key-frame before it,
 *   frame by frame; frames before the first key-frame get nothing.
 * - backward: mirror image.
 * - both: frames with key-frames on both sides get the forward and backward predictions merged,
 *   weighted by temporal distance (the nearer key-frame counts more) times the engines'
 *   per-pixel confidence where given; frames outside get the one direction that reaches them.
 * Adding a key-frame invalidates only the frames between its neighbouring key-frames.
 */
export class PropagationSession {
  readonly task: Task;
  readonly engine: Engine;
  readonly width: number;
  readonly height: number;
  readonly internalWidth: number;
  readonly internalHeight: number;
  private readonly keyframes = new Map<number, Keyframe>();
  private readonly store: FrameStore;
  /** One store per direction: a frame has a forward and a backward prediction before merging. */
  private readonly forwardStore: FrameStore;
  private readonly backwardStore: FrameStore;
  /** Cache root; removed on dispose when the session created it. */
  private readonly cacheRoot: string;
  private readonly ownsCache: boolean;
  private channels = 0;
  private disposed = false;

  constructor(
    readonly source: FrameSource,
    private readonly options: SessionOptions,
  ) {
    this.task = options.task;
    this.engine = options.engine;
    if (!this.engine.tasks.includes(this.task)) {
      throw new TypeError(`engine "${this.engine.name}" does not support the ${this.task} task (it does ${this.engine.tasks.join(', ')})`);
    }
    this.width = source.info.width;
    this.height = source.info.height;
    const inner = fitWithin(this.width, this.height, options.maxInternalSize);
    this.internalWidth = inner.width;
    this.internalHeight = inner.height;
    this.ownsCache = !options.cacheDir;
    this.cacheRoot = options.cacheDir ?? join(tmpdir(), `vprop-session-${randomBytes(6).toString('hex')}`);
    // A private cache only has to bound memory (write on eviction); a given one must survive a crash.
    const mem = options.memoryFrames ?? 16;
    this.store = new FrameStore(join(this.cacheRoot, 'results'), mem, !this.ownsCache);
    this.forwardStore = new FrameStore(join(this.cacheRoot, 'forward'), mem, !this.ownsCache);
    this.backwardStore = new FrameStore(join(this.cacheRoot, 'backward'), mem, !this.ownsCache);
    if (this.task === 'color') this.channels = 2;
    if (this.task === 'hdr') this.channels = 3;
  }

  get frameCount(): number | undefined {
    return this.source.info.frameCount;
  }

  /** Key-frame indices, ascending. */
  keyframeIndices(): number[] {
    return [...this.keyframes.keys()].sort((a, b) => a - b);
  }

  /**
   * Add (or replace) the annotation of frame `index`. Masks may introduce new object ids: all maps
   * widen to the largest id seen.
   */
  addKeyframe(index: number, annotation: Annotation): void {
    this.assertOpen();
    const count = this.source.info.frameCount;
    if (!Number.isInteger(index) || index < 0 || (count !== undefined && index >= count)) {
      throw new RangeError(`key-frame index ${index} is outside the video (0..${count === undefined ? '?' : count - 1})`);
    }
    // Masks may bring new object ids: every map widens to the largest id seen (an empty mask is
    // legal; it says no object is visible there).
    if (isProbabilityTask(this.task)) this.channels = Math.max(this.channels, annotationChannels(annotation, this.width, this.height), 2);
    const full = annotationToProperty(this.task, annotation, this.width, this.height, this.channels);
    const version = createHash('sha1')
      .update(new Uint8Array(full.data.buffer, full.data.byteOffset, full.data.byteLength))
      .digest('hex')
      .slice(0, 12);
    this.keyframes.set(index, { index, version, annotation, full });
  }

  removeKeyframe(index: number): boolean {
    this.assertOpen();
    return this.keyframes.delete(index);
  }

  /** Stream results in frame order (descending for 'backward'). */
  async *propagate(opts: PropagateOptions = {}): AsyncGenerator<PropagationResult> {
    this.assertOpen();
    const direction = opts.direction ?? 'both';
    const signal = anySignal(this.options.signal, opts.signal);
    const keys = this.keyframeIndices();
    if (keys.length === 0) throw new Error('propagate() needs at least one key-frame: call addKeyframe() first');
    // A live source without a known length is propagated up to `to` (or its last key-frame).
    const count = this.source.info.frameCount;
    const last = count !== undefined ? count - 1 : Math.max(keys[keys.length - 1], opts.to ?? 0);
    const from = Math.max(0, opts.from ?? 0);
    const to = Math.min(last, opts.to ?? last);
    if (from > to) return;

    const plan = this.plan(keys, direction, from, to, last);
    const progress = new ProgressCounter(
      plan.reduce((s, seg) => s + seg.workFrames, 0),
      this.options.onProgress,
    );
    const ordered = direction === 'backward' ? [...plan].reverse() : plan;
    for (const seg of ordered) {
      throwIfAborted(signal);
      yield* this.runSegment(seg, direction, progress, signal);
    }
  }

  /** Release the engine's per-session state, the cache (unless user-provided) and the source. */
  async dispose(closeSource = true): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.store.dispose(false);
    this.forwardStore.dispose(false);
    this.backwardStore.dispose(false);
    if (this.ownsCache) rmSync(this.cacheRoot, { recursive: true, force: true });
    await this.engine.dispose?.();
    if (closeSource) await this.source.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  // ---------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.disposed) throw new Error('session is disposed');
  }

  /**
   * Segments between consecutive key-frames, clipped to [from, to]. Every key-frame is the right
   * end of exactly one segment, which is where it is yielded.
   */
  private plan(keys: number[], direction: Direction, from: number, to: number, last: number): Segment[] {
    const bounds: Array<[number | undefined, number | undefined]> = [[undefined, keys[0]]];
    for (let i = 0; i + 1 < keys.length; i++) bounds.push([keys[i], keys[i + 1]]);
    bounds.push([keys[keys.length - 1], undefined]);
    return bounds.map(([left, right]) => {
      const lo = Math.max(left === undefined ? 0 : left + 1, from);
      const hi = Math.min(right === undefined ? last : right - 1, to);
      const useForward = direction !== 'backward' && left !== undefined && lo <= hi;
      const useBackward = direction !== 'forward' && right !== undefined && lo <= hi;
      // A forward pass starts at its key-frame even when `from` is later: the recurrence needs it.
      const workFrames = (useForward ? hi - (left as number) : 0) + (useBackward ? (right as number) - lo : 0);
      const yieldRight = right !== undefined && right >= from && right <= to ? right : undefined;
      return { left, right, lo, hi, useForward, useBackward, workFrames, yieldRight };
    });
  }

  private signature(seg: Segment, direction: Direction): string {
    const h = createHash('sha1');
    h.update(
      `${this.engine.name}|${this.options.engineSignature ?? ''}|${this.task}|${this.internalWidth}x${this.internalHeight}|${this.channels}|${direction}`,
    );
    const kl = seg.left === undefined ? undefined : this.keyframes.get(seg.left);
    const kr = seg.right === undefined ? undefined : this.keyframes.get(seg.right);
    h.update(`|${seg.useForward && kl ? `${kl.index}:${kl.version}` : '-'}|${seg.useBackward && kr ? `${kr.index}:${kr.version}` : '-'}`);
    return h.digest('hex').slice(0, 16);
  }

  private async *runSegment(
    seg: Segment,
    direction: Direction,
    progress: ProgressCounter,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<PropagationResult> {
    const backwardOrder = direction === 'backward';
    if (backwardOrder && seg.yieldRight !== undefined) yield await this.keyframeResult(seg.yieldRight);
    if (seg.useForward || seg.useBackward) {
      const sig = this.signature(seg, direction);
      let complete = true;
      for (let t = seg.lo; t <= seg.hi && complete; t++) if (!this.store.get(t, sig)) complete = false;
      if (!complete) await this.computeSegment(seg, sig, progress, signal);
      const order = backwardOrder ? range(seg.hi, seg.lo, -1) : range(seg.lo, seg.hi, 1);
      for (const t of order) {
        throwIfAborted(signal);
        const p = this.store.get(t, sig);
        if (!p) throw new Error(`internal: frame ${t} missing after its segment was computed`);
        yield await this.result(t, p, false);
      }
    }
    if (!backwardOrder && seg.yieldRight !== undefined) yield await this.keyframeResult(seg.yieldRight);
  }

  /** Run the passes a segment needs and store the merged results for [lo, hi]. */
  private async computeSegment(seg: Segment, sig: string, progress: ProgressCounter, signal: AbortSignal | undefined): Promise<void> {
    if (seg.useBackward) await this.runPass(seg.right as number, seg.lo, -1, this.backwardStore, sig, progress, signal);
    if (seg.useForward) await this.runPass(seg.left as number, seg.hi, +1, this.forwardStore, sig, progress, signal);
    for (let t = seg.lo; t <= seg.hi; t++) {
      const f = seg.useForward ? this.forwardStore.get(t, sig) : undefined;
      const b = seg.useBackward ? this.backwardStore.get(t, sig) : undefined;
      let merged: PropertyMap;
      if (f && b) {
        const L = seg.left as number;
        const R = seg.right as number;
        merged = mergeDirections(f, b, (R - t) / (R - L), (t - L) / (R - L));
      } else if (f) merged = f;
      else if (b) merged = b;
      else throw new Error(`internal: no pass produced frame ${t}`);
      this.store.set(t, sig, merged);
    }
  }

  /**
   * One directional pass from key-frame `start` to `end` (inclusive), step ±1, storing each
   * prediction in `passStore` under `passSig`. Frames already stored (an interrupted earlier run) are reused
   * as guides without recomputation.
   */
  private async runPass(
    start: number,
    end: number,
    step: 1 | -1,
    passStore: FrameStore,
    passSig: string,
    progress: ProgressCounter,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const key = this.keyframes.get(start) as Keyframe;
    const want = Math.max(1, this.engine.guides.previous);
    const keyFrame = await this.internalFrame(start);
    const keyGuide: Guide = { index: start, frame: keyFrame, property: this.internalProperty(key.full), isKeyframe: true };
    const window: Guide[] = [keyGuide];
    const reader = new FrameReader(this.source, step, end);
    for (let t = start + step; step > 0 ? t <= end : t >= end; t += step) {
      throwIfAborted(signal);
      const frame = this.toInternal(await reader.get(t));
      let p = passStore.get(t, passSig);
      if (!p) {
        const guides = this.engine.guides.keyframe && !window.includes(keyGuide) ? [...window, keyGuide] : window;
        p = await this.engine.predict({ index: t, frame }, guides, { task: this.task, signal });
        if (p.width !== this.internalWidth || p.height !== this.internalHeight) {
          throw new Error(
            `engine ${this.engine.name} returned ${p.width}x${p.height} for a ${this.internalWidth}x${this.internalHeight} frame`,
          );
        }
        passStore.set(t, passSig, p);
        progress.tick(t);
      } else {
        progress.skip();
      }
      window.unshift({ index: t, frame, property: p, isKeyframe: false });
      if (window.length > want) window.length = want;
    }
  }

  private async internalFrame(index: number): Promise<RgbFrame> {
    return this.toInternal(await this.source.frame(index));
  }

  private toInternal(f: RgbFrame): RgbFrame {
    if (f.width !== this.width || f.height !== this.height) {
      throw new Error(`frame is ${f.width}x${f.height}, expected ${this.width}x${this.height}`);
    }
    if (this.internalWidth === this.width && this.internalHeight === this.height) return f;
    return {
      width: this.internalWidth,
      height: this.internalHeight,
      data: resizeBilinearInterleavedU8(f.data, 3, f.width, f.height, this.internalWidth, this.internalHeight),
    };
  }

  private internalProperty(p: PropertyMap): PropertyMap {
    const q = isProbabilityTask(this.task) ? padChannels(p, Math.max(this.channels, p.channels)) : p;
    if (q.width === this.internalWidth && q.height === this.internalHeight) return q;
    return resizeProperty(q, this.internalWidth, this.internalHeight);
  }

  private async keyframeResult(index: number): Promise<PropagationResult> {
    const k = this.keyframes.get(index) as Keyframe;
    return this.result(index, k.full, true);
  }

  private async result(index: number, p: PropertyMap, isKeyframe: boolean): Promise<PropagationResult> {
    let full = p.width === this.width && p.height === this.height ? p : resizeProperty(p, this.width, this.height);
    if (isProbabilityTask(this.task)) full = padChannels(full, Math.max(this.channels, full.channels));
    switch (this.task) {
      case 'mask':
      case 'labels':
        return { index, isKeyframe, property: full, labels: probabilitiesToLabels(full) };
      case 'color': {
        const given = isKeyframe ? this.keyframes.get(index)?.annotation : undefined;
        const rgb = given && 'color' in given ? given.color : composeColor(await this.source.frame(index), full);
        return { index, isKeyframe, property: full, rgb };
      }
      case 'hdr':
        return { index, isKeyframe, property: full, radiance: propertyToRadiance(full) };
    }
  }
}

interface Segment {
  readonly left: number | undefined;
  readonly right: number | undefined;
  readonly lo: number;
  readonly hi: number;
  readonly useForward: boolean;
  readonly useBackward: boolean;
  readonly workFrames: number;
  readonly yieldRight: number | undefined;
}

/**
 * Weighted merge of the two directions. Weights are the temporal ones (wf, wb) times each side's
 * confidence where the engine gives one; where both confidences vanish the temporal weights stand.
 */
export function mergeDirections(f: PropertyMap, b: PropertyMap, wf: number, wb: number): PropertyMap {
  const n = f.width * f.height;
  const channels = Math.max(f.channels, b.channels);
  const fp = padChannels(f, channels);
  const bp = padChannels(b, channels);
  const data = new Float32Array(channels * n);
  const confidence = f.confidence || b.confidence ? new Float32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    let a = wf * (f.confidence ? f.confidence[i] : 1);
    let c = wb * (b.confidence ? b.confidence[i] : 1);
    const s = a + c;
    if (s > 1e-12) {
      a /= s;
      c /= s;
    } else {
      a = wf / (wf + wb);
      c = wb / (wf + wb);
    }
    for (let k = 0; k < channels; k++) data[k * n + i] = a * fp.data[k * n + i] + c * bp.data[k * n + i];
    if (confidence) confidence[i] = a * (f.confidence ? f.confidence[i] : 1) + c * (b.confidence ? b.confidence[i] : 1);
  }
  return { width: f.width, height: f.height, channels, data, confidence };
}

function resizeProperty(p: PropertyMap, w: number, h: number): PropertyMap {
  return {
    width: w,
    height: h,
    channels: p.channels,
    data: resizeBilinearPlanar(p.data, p.channels, p.width, p.height, w, h),
    confidence: p.confidence ? resizeBilinearPlanar(p.confidence, 1, p.width, p.height, w, h) : undefined,
  };
}

function range(a: number, b: number, step: 1 | -1): number[] {
  const out: number[] = [];
  for (let t = a; step > 0 ? t <= b : t >= b; t += step) out.push(t);
  return out;
}

/**
 * Reads frames for a pass. Forward passes stream; backward passes read blocks of frames in
 * ascending order (what video decoders do well) and hand them out in descending order, so a
 * backward pass over a video file does not seek once per frame. Memory: one block.
 */
class FrameReader {
  private block = new Map<number, IndexedFrame>();
  private iterator: AsyncIterator<IndexedFrame> | undefined;
  private static readonly BLOCK = 16;

  constructor(
    private readonly source: FrameSource,
    private readonly step: 1 | -1,
    private readonly end: number,
  ) {}

  async get(t: number): Promise<IndexedFrame> {
    if (this.step > 0) {
      if (!this.iterator) this.iterator = this.source.frames(t, this.end + 1)[Symbol.asyncIterator]();
      const r = await this.iterator.next();
      if (r.done || r.value.index !== t) return this.source.frame(t);
      return r.value;
    }
    const hit = this.block.get(t);
    if (hit) {
      this.block.delete(t);
      return hit;
    }
    this.block.clear();
    const lo = Math.max(this.end, t - FrameReader.BLOCK + 1);
    for await (const f of this.source.frames(lo, t + 1)) this.block.set(f.index, f);
    const got = this.block.get(t);
    if (!got) return this.source.frame(t);
    this.block.delete(t);
    return got;
  }
}

class ProgressCounter {
  private done = 0;
  private readonly started = performance.now();
  constructor(
    private total: number,
    private readonly callback: ((p: Progress) => void) | undefined,
  ) {}
  tick(frame: number): void {
    this.done += 1;
    if (!this.callback) return;
    const elapsed = performance.now() - this.started;
    const fps = (this.done * 1000) / Math.max(elapsed, 1e-3);
    const left = Math.max(0, this.total - this.done);
    this.callback({ done: this.done, total: this.total, framesPerSecond: fps, etaMs: (left / fps) * 1000, frame });
  }
  skip(): void {
    this.total = Math.max(this.done, this.total - 1);
  }
}

function anySignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}

export { AbortError };
