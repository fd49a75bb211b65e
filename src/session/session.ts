/**
 * The propagation workflow: open a source, add key-frames, propagate. Frames stream through; the
 * engine sees the guides its policy picks; results are kept in the given stores (memory in
 * browsers, spilled to disk in Node). This module imports no Node built-ins.
 *
 * Semantics of `propagate`:
 * - forward: each frame after a key-frame is predicted from the nearest key-frame before it, frame
 *   by frame; frames before the first key-frame get nothing. backward: the mirror image.
 * - both: frames with key-frames on both sides get the two directions' predictions merged,
 *   weighted by temporal distance (the nearer key-frame counts more) times the engines' per-pixel
 *   confidence where given; frames outside get the one direction that reaches them.
 * - Key-frame modes (masks): a 'replace' key-frame (`{ mask }`) is the whole truth of its frame;
 *   an 'add' key-frame (`{ objects }`, or `{ mask }` added with mode 'add') annotates some objects
 *   only: the others keep propagating through it, and ids it introduces start there (they are not
 *   propagated to earlier frames). `removeObject(id, frame)` ends an object from a frame on.
 * - Without any key-frame, an engine that does not need one (GRFP's per-frame protocol) runs over
 *   the whole video.
 * - Results are cached per frame under a signature of everything that produced them (engine and
 *   options, guide policy, layout, key-frames the passes depend on): adding a key-frame recomputes
 *   only what it affects — for window policies the frames between its neighbouring key-frames,
 *   for policies that may draw on any key-frame of a side (memory selection) and for engines fitted
 *   to the key-frames, everything it can reach.
 * - A frame that cannot be read (damaged video, corrupt image) stops the run with its error after
 *   every result before it has been yielded.
 */
import { AbortError, InputError, throwIfAborted } from '../core/errors.js';
import { Hasher } from '../core/hash.js';
import type { Annotation, IndexedFrame, ObjectPresence, PropertyMap, RgbFrame, Size, Task } from '../core/types.js';
import type { Engine, Guide } from '../engines/types.js';
import type { FeatureStore } from '../memory/features.js';
import { mergeWeighted, type WeightedMap } from '../memory/merge.js';
import {
  capPool,
  chooseGuides,
  type GuideCandidate,
  type GuidePolicy,
  keepsWholePass,
  policyScope,
  policySignature,
} from '../memory/policy.js';
import { fitWithin, resizeBilinearInterleavedU8, resizeBilinearPlanar } from '../ops/resize.js';
import { getTask } from '../tasks/index.js';
import { padChannels } from '../tasks/maps.js';
import type { ChannelLayout, KeyframeContent, TaskDefinition, TaskResultFields } from '../tasks/types.js';
import type { FrameSource } from '../video/types.js';
import { FramePipeline, type FramePool } from './pool.js';
import { memoryStores, type ResultStore, type SessionStores } from './stores.js';

export type Direction = 'forward' | 'backward' | 'both';
export type KeyframeMode = 'replace' | 'add';

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
  /** Non-fatal problems (an annotation resized by a pixel, ...). Default: ignored. */
  readonly onWarning?: (message: string) => void;
  /** Where results and features are kept (default: memory; Node's openVideo spills to disk). */
  readonly stores?: SessionStores;
  /** Guide policy instead of the engine's own (e.g. memory selection for any engine). */
  readonly guides?: GuidePolicy;
  /** Post-processing of non-key-frame results by name, from the task's refinements (`'crf'`). */
  readonly refine?: string;
  /** Accept key-frames that hold no object (default false: an empty mask is usually a mistake). */
  readonly allowEmpty?: boolean;
  /**
   * Masks: object ids known before any key-frame (a per-frame segmenter's objects, objects that
   * enter later); they get channels like the key-frames' ids. Needed to propagate masks without
   * key-frames.
   */
  readonly objects?: readonly number[];
  /** Labels: number of classes known up front (needed without key-frames; key-frames may add more). */
  readonly classes?: number;
  /**
   * Workers that prepare the next frames' engine analysis while the current frame propagates
   * (Engine.prepare; Node's openVideo makes one from its `workers` option). Not closed by the
   * session unless `closePool` is set.
   */
  readonly pool?: FramePool;
  readonly closePool?: boolean;
  /** Frames prepared ahead of the propagation (default 2 x pool size + 1): memory is this many frames' analysis. */
  readonly lookahead?: number;
}

export interface PropagateOptions {
  readonly direction?: Direction;
  /** First frame (inclusive) to yield; default 0. */
  readonly from?: number;
  /** Last frame (inclusive) to yield; default the last frame. */
  readonly to?: number;
  readonly signal?: AbortSignal;
}

export interface KeyframeOptions {
  /** 'replace' (the whole truth of the frame) or 'add' (these objects only). Default: 'add' for `{ objects }`, else 'replace'. */
  readonly mode?: KeyframeMode;
  /** Name of the annotation in messages (its file). Default "key-frame N". */
  readonly source?: string;
}

export interface PropagationResult extends TaskResultFields {
  readonly index: number;
  readonly isKeyframe: boolean;
  /** The property map at the video's size (task layout; masks: channel k+1 is object `objectIds[k]`). */
  readonly property: PropertyMap;
  /** mask: presence of every object (id, present, pixels, score). */
  readonly objects?: readonly ObjectPresence[];
}

interface KeyframeRecord {
  readonly index: number;
  readonly mode: KeyframeMode;
  readonly content: KeyframeContent;
  readonly annotation: Annotation;
  /** Content hash: results signed with it stay valid across sessions. */
  readonly version: string;
}

/** A directional pass: from key-frame `start` (or a virtual start outside the video) in `step`. */
interface PassKey {
  readonly start: number;
  readonly step: 1 | -1;
}

interface Segment {
  /** Key-frame (or virtual start, −1) on the left; undefined when none. */
  readonly left: number | undefined;
  readonly right: number | undefined;
  /** Non-key frames of the segment, clipped to the video. */
  readonly lo: number;
  readonly hi: number;
  readonly forward: boolean;
  readonly backward: boolean;
}

const ALL_KNOWN = undefined;

export class PropagationSession {
  readonly task: Task;
  readonly taskDef: TaskDefinition;
  readonly engine: Engine;
  readonly width: number;
  readonly height: number;
  readonly internalWidth: number;
  readonly internalHeight: number;
  readonly policy: GuidePolicy;
  private readonly keyframes = new Map<number, KeyframeRecord>();
  /** Object id → first frame it is absent from (removeObject). */
  private readonly removals = new Map<number, number>();
  private layout: ChannelLayout;
  private readonly stores: SessionStores;
  private readonly merged: ResultStore;
  private readonly passStores: Record<1 | -1, ResultStore>;
  private readonly features: FeatureStore;
  private fittedFor: string | undefined;
  /** Ids given up front (SessionOptions objects / classes). */
  private readonly declaredIds: number[];
  private disposed = false;
  /** Set after a frame preparation failed in the pool: the engine then computes everything itself. */
  private poolFailed = false;
  /** Cache of effective start states of passes (key-frame compositions), per pass signature. */
  private readonly startStates = new Map<string, PropertyMap>();

  constructor(
    readonly source: FrameSource,
    private readonly options: SessionOptions,
  ) {
    this.task = options.task;
    this.taskDef = getTask(options.task);
    this.engine = options.engine;
    if (!this.engine.tasks.includes(this.task)) {
      throw new InputError(
        'engine',
        `engine "${this.engine.name}" does not do the ${this.task} task (it does ${this.engine.tasks.join(', ')})`,
      );
    }
    if (options.refine !== undefined && options.refine !== 'none' && !this.taskDef.refinements[options.refine]) {
      const known = Object.keys(this.taskDef.refinements);
      throw new InputError(
        'refine',
        `the ${this.task} task has no refinement "${options.refine}" (${known.length ? known.join(', ') : 'none'})`,
      );
    }
    this.policy = options.guides ?? this.engine.guides;
    this.width = source.info.width;
    this.height = source.info.height;
    const inner = fitWithin(this.width, this.height, options.maxInternalSize);
    this.internalWidth = inner.width;
    this.internalHeight = inner.height;
    this.stores = options.stores ?? memoryStores();
    this.merged = this.stores.results('merged');
    this.passStores = { 1: this.stores.results('forward'), [-1]: this.stores.results('backward') } as Record<1 | -1, ResultStore>;
    this.features = this.stores.features();
    this.declaredIds =
      this.task === 'mask'
        ? [...(options.objects ?? [])]
        : this.task === 'labels' && options.classes
          ? range(0, options.classes - 1, 1)
          : [];
    for (const id of this.declaredIds) {
      const min = this.task === 'mask' ? 1 : 0;
      if (!Number.isInteger(id) || id < min || id > 255)
        throw new InputError(this.task === 'mask' ? 'objects' : 'classes', `id ${id} is outside ${min}..255`);
    }
    this.layout = this.taskDef.layout(this.declaredIds);
  }

  get frameCount(): number | undefined {
    return this.source.info.frameCount;
  }

  /** Masks: the object id of each channel after the background (ascending). */
  get objectIds(): readonly number[] {
    return this.layout.objectIds ?? [];
  }

  get channelLayout(): ChannelLayout {
    return this.layout;
  }

  /** Key-frame indices, ascending. */
  keyframeIndices(): number[] {
    return [...this.keyframes.keys()].sort((a, b) => a - b);
  }

  /**
   * Add (or replace) the annotation of frame `index`. Masks may introduce new object ids (every map
   * gets a channel for each). See the module comment for the 'replace' and 'add' modes.
   */
  addKeyframe(index: number, annotation: Annotation, opts: KeyframeOptions = {}): void {
    this.assertOpen();
    const count = this.source.info.frameCount;
    if (!Number.isInteger(index) || index < 0 || (count !== undefined && index >= count)) {
      throw new RangeError(`key-frame index ${index} is outside the video (0..${count === undefined ? '?' : count - 1})`);
    }
    const source = opts.source ?? `key-frame ${index}`;
    const content = this.taskDef.keyframe(annotation, { width: this.width, height: this.height }, { source, warn: this.options.onWarning });
    if (content.empty && !this.options.allowEmpty) {
      throw new InputError(
        source,
        `holds no object (every pixel is background); to say that no object is visible on frame ${index}, allow empty key-frames`,
      );
    }
    const mode: KeyframeMode = opts.mode ?? ('objects' in annotation ? 'add' : 'replace');
    if (mode === 'add' && !this.taskDef.partialKeyframes)
      throw new InputError(
        source,
        `the ${this.task} task has no partial key-frames: every key-frame is the whole truth of its frame (mode 'replace')`,
      );
    if (mode !== 'add' && mode !== 'replace')
      throw new InputError(source, `key-frame mode must be 'add' or 'replace', got ${String(mode)}`);
    const own = content.property(this.taskDef.layout(content.ids));
    const version = new Hasher().update(mode).update(own.data).update(content.ids.join(',')).digest();
    this.keyframes.set(index, { index, mode, content, annotation, version });
    this.updateLayout();
  }

  removeKeyframe(index: number): boolean {
    this.assertOpen();
    const had = this.keyframes.delete(index);
    if (had) this.updateLayout();
    return had;
  }

  /** Masks: object `id` is absent from frame `fromFrame` on (default 0: everywhere). */
  removeObject(id: number, fromFrame = 0): void {
    this.assertOpen();
    if (this.task !== 'mask') throw new InputError('removeObject', `only masks have objects (task ${this.task})`);
    if (!Number.isInteger(fromFrame) || fromFrame < 0)
      throw new RangeError(`removeObject: frame must be an integer >= 0, got ${fromFrame}`);
    if (!this.objectIds.includes(id))
      throw new InputError(
        'removeObject',
        `object ${id} is not annotated on any key-frame (objects: ${this.objectIds.join(', ') || 'none'})`,
      );
    this.removals.set(id, Math.min(fromFrame, this.removals.get(id) ?? Number.POSITIVE_INFINITY));
  }

  /** Stream results in frame order (descending for 'backward'). */
  async *propagate(opts: PropagateOptions = {}): AsyncGenerator<PropagationResult> {
    this.assertOpen();
    const direction = opts.direction ?? 'both';
    if (!['forward', 'backward', 'both'].includes(direction))
      throw new InputError('direction', `must be forward, backward or both, got ${String(direction)}`);
    const signal = anySignal(this.options.signal, opts.signal);
    const keys = this.keyframeIndices();
    if (keys.length === 0 && this.engine.needsKeyframes)
      throw new InputError('propagate', `engine ${this.engine.name} needs at least one key-frame: call addKeyframe() first`);
    // A live source without a known length is propagated up to `to` (or its last key-frame).
    const count = this.source.info.frameCount;
    if (count === undefined && keys.length === 0 && opts.to === undefined)
      throw new InputError('propagate', 'a source of unknown length without key-frames needs `to`');
    const last = count !== undefined ? count - 1 : Math.max(keys[keys.length - 1] ?? 0, opts.to ?? 0);
    const from = Math.max(0, opts.from ?? 0);
    const to = Math.min(last, opts.to ?? last);
    if (from > to) return;
    await this.fitIfNeeded(signal);

    const plan = this.plan(keys, direction, last);
    const progress = new ProgressCounter(this.estimateWork(plan, from, to, last), this.options.onProgress);
    const run: RunContext = { direction, progress, signal, last, from, to };
    const ordered = direction === 'backward' ? [...plan].reverse() : plan;
    for (const seg of ordered) {
      throwIfAborted(signal);
      yield* this.runSegment(seg, run);
    }
  }

  /** Release the engine's per-session state, the stores (a given cache directory stays) and the source. */
  async dispose(closeSource = true): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.startStates.clear();
    await this.stores.dispose();
    await this.engine.dispose?.();
    if (this.options.closePool) await this.options.pool?.close();
    if (closeSource) await this.source.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  // ---------------------------------------------------------------------------------------------
  // Layout, object ranges, signatures

  private assertOpen(): void {
    if (this.disposed) throw new Error('session is disposed');
  }

  private updateLayout(): void {
    const ids = new Set<number>(this.declaredIds);
    for (const k of this.keyframes.values()) for (const id of k.content.ids) ids.add(id);
    this.layout = this.taskDef.layout([...ids]);
    this.startStates.clear();
  }

  /** Frame from which object `id` exists: its first key-frame when that one adds it ('add' mode), else the start. */
  private objectStart(id: number): number {
    let first: KeyframeRecord | undefined;
    for (const k of this.keyframes.values()) if (k.content.ids.includes(id) && (!first || k.index < first.index)) first = k;
    return first && first.mode === 'add' ? first.index : 0;
  }

  /** Channels inactive at frame t (objects not started yet or removed), or undefined when all are active. */
  private inactiveAt(t: number): Uint8Array | undefined {
    const ids = this.layout.objectIds;
    if (!ids) return undefined;
    let out: Uint8Array | undefined;
    ids.forEach((id, k) => {
      const end = this.removals.get(id) ?? Number.POSITIVE_INFINITY;
      if (t < this.objectStart(id) || t >= end) {
        out ??= new Uint8Array(this.layout.channels);
        out[k + 1] = 1;
      }
    });
    return out;
  }

  /** Move the probability of inactive objects to the background. */
  private restrict(p: PropertyMap, t: number): PropertyMap {
    const inactive = this.inactiveAt(t);
    if (!inactive) return p;
    const n = p.width * p.height;
    const data = p.data.slice();
    for (let c = 1; c < p.channels; c++) {
      if (!inactive[c]) continue;
      for (let i = 0; i < n; i++) {
        data[i] += data[c * n + i];
        data[c * n + i] = 0;
      }
    }
    return { ...p, data };
  }

  private rangesSignature(): string {
    const ids = this.layout.objectIds ?? [];
    return ids.map((id) => `${id}:${this.objectStart(id)}-${this.removals.get(id) ?? ''}`).join(',');
  }

  private baseSignature(): string {
    // The source is named by its origin and shape: a cache directory reused for another video with
    // another name or size never serves its results.
    const info = this.source.info;
    return new Hasher()
      .update(`${info.origin}|${info.width}x${info.height}|${info.frameCount ?? '?'}`)
      .update(`${this.engine.name}|${this.engine.signature}|${policySignature(this.policy)}|${this.task}`)
      .update(`${this.internalWidth}x${this.internalHeight}|${this.layout.channels}|${(this.layout.objectIds ?? []).join(',')}`)
      .update(this.rangesSignature())
      .digest();
  }

  /** The key-frame a pass through `k` in direction `step` came from (the previous one in that direction). */
  private previousKey(k: number, step: 1 | -1): number | undefined {
    let best: number | undefined;
    for (const i of this.keyframes.keys()) {
      if (step > 0 ? i < k && (best === undefined || i > best) : i > k && (best === undefined || i < best)) best = i;
    }
    return best;
  }

  /**
   * Signature of a pass: what its predictions depend on. A pass from a 'replace' key-frame depends
   * on it alone (for window policies); one from an 'add' key-frame also on the pass that reached it;
   * 'side' policies and fitted engines on every key-frame they can see.
   */
  private passSignature(pass: PassKey): string {
    const h = new Hasher().update(this.baseSignature()).update(`pass ${pass.step}`);
    if (this.isVirtual(pass.start)) return h.update('virtual').digest();
    const scopeAll = this.engine.fit !== undefined;
    const side = policyScope(this.policy) === 'side';
    for (const k of this.keyframeIndices()) {
      const rec = this.keyframes.get(k) as KeyframeRecord;
      const onSide = pass.step > 0 ? k <= pass.start : k >= pass.start;
      if (scopeAll || (side && onSide)) h.update(`${k}:${rec.version}`);
    }
    // The chain through 'add' key-frames back to the nearest 'replace' one (or the video's end).
    let k: number | undefined = pass.start;
    while (k !== undefined) {
      const rec = this.keyframes.get(k) as KeyframeRecord;
      h.update(`chain ${k}:${rec.version}`);
      if (rec.mode === 'replace') break;
      k = this.previousKey(k, pass.step);
    }
    return h.digest();
  }

  private isVirtual(k: number): boolean {
    return !this.keyframes.has(k);
  }

  // ---------------------------------------------------------------------------------------------
  // Planning

  private plan(keys: number[], direction: Direction, last: number): Segment[] {
    const fwd = direction !== 'backward';
    const bwd = direction !== 'forward';
    if (keys.length === 0) {
      // No key-frame (engines that need none): passes start outside the video.
      return [{ left: -1, right: last + 1, lo: 0, hi: last, forward: fwd, backward: bwd }];
    }
    const bounds: Array<[number | undefined, number | undefined]> = [[undefined, keys[0]]];
    for (let i = 0; i + 1 < keys.length; i++) bounds.push([keys[i], keys[i + 1]]);
    bounds.push([keys[keys.length - 1], undefined]);
    return bounds.map(([left, right]) => ({
      left,
      right,
      lo: left === undefined ? 0 : left + 1,
      hi: right === undefined ? last : right - 1,
      forward: fwd && left !== undefined,
      backward: bwd && right !== undefined,
    }));
  }

  private estimateWork(plan: Segment[], from: number, to: number, last: number): number {
    let total = 0;
    for (const s of plan) {
      if (s.lo > s.hi || s.hi < from || s.lo > to) continue;
      if (s.forward) total += Math.min(s.hi, to) - Math.max(-1, s.left as number);
      if (s.backward) total += Math.min(last + 1, s.right as number) - Math.max(s.lo, from);
    }
    return Math.max(0, total);
  }

  private segmentSignature(seg: Segment, direction: Direction): string {
    const h = new Hasher().update(`${direction}|${seg.left}|${seg.right}`);
    h.update(seg.forward ? this.passSignature({ start: seg.left as number, step: 1 }) : '-');
    h.update(seg.backward ? this.passSignature({ start: seg.right as number, step: -1 }) : '-');
    return h.digest();
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  private async *runSegment(seg: Segment, run: RunContext): AsyncGenerator<PropagationResult> {
    const descending = run.direction === 'backward';
    const keyInRange = (k: number | undefined) => k !== undefined && this.keyframes.has(k) && k >= run.from && k <= run.to;
    if (descending && keyInRange(seg.right)) yield await this.keyframeResult(seg.right as number, run);
    const lo = Math.max(seg.lo, run.from);
    const hi = Math.min(seg.hi, run.to);
    if ((seg.forward || seg.backward) && lo <= hi) {
      const sig = this.segmentSignature(seg, run.direction);
      let complete = true;
      for (let t = lo; t <= hi && complete; t++) if (!this.merged.get(t, sig)) complete = false;
      if (complete) {
        for (const t of descending ? range(hi, lo, -1) : range(lo, hi, 1)) {
          throwIfAborted(run.signal);
          yield await this.result(t, this.merged.get(t, sig) as PropertyMap, run);
        }
      } else {
        yield* this.computeSegment(seg, sig, lo, hi, run);
      }
    }
    if (!descending && keyInRange(seg.right)) yield await this.keyframeResult(seg.right as number, run);
  }

  /**
   * Compute and yield [lo, hi] of a segment. With both directions the backward pass runs first
   * (whole), then the forward pass streams, each frame merged as soon as it is predicted; with one
   * direction that pass streams. A pass that fails (a frame that cannot be read) stops the run after
   * the frames before it were yielded.
   */
  private async *computeSegment(seg: Segment, sig: string, lo: number, hi: number, run: RunContext): AsyncGenerator<PropagationResult> {
    const fwdPass: PassKey | undefined = seg.forward ? { start: seg.left as number, step: 1 } : undefined;
    const bwdPass: PassKey | undefined = seg.backward ? { start: seg.right as number, step: -1 } : undefined;
    const emit = async (t: number, f: PropertyMap | undefined, b: PropertyMap | undefined): Promise<PropagationResult> => {
      const m = this.mergeAt(seg, t, f, b, fwdPass, bwdPass);
      // A single pass's map is already stored under its pass signature (a resumed run finds it
      // there): storing it again would write every frame's map twice.
      if (m !== f && m !== b) this.merged.set(t, sig, m);
      return this.result(t, m, run);
    };
    if (fwdPass && bwdPass) {
      let bwdError: unknown;
      try {
        await this.runPass(bwdPass, this.backwardEnd(seg, seg.lo), run, () => {});
      } catch (err) {
        if (isAbort(err)) throw err;
        bwdError = err; // the forward pass yields what it can; it stops at the same frame
      }
      const bwdSig = this.passSignature(bwdPass);
      for await (const { t, map } of this.streamPass(fwdPass, this.forwardEnd(seg, hi), run)) {
        if (t < lo || t > hi) continue;
        yield await emit(t, map, this.passStores[-1].get(t, bwdSig));
      }
      if (bwdError) throw bwdError;
      return;
    }
    const pass = (fwdPass ?? bwdPass) as PassKey;
    if (pass.step > 0 || run.direction === 'backward') {
      // Stream in the yield order.
      const end = pass.step > 0 ? this.forwardEnd(seg, hi) : this.backwardEnd(seg, lo);
      for await (const { t, map } of this.streamPass(pass, end, run)) {
        if (t < lo || t > hi) continue;
        yield await emit(t, pass.step > 0 ? map : undefined, pass.step < 0 ? map : undefined);
      }
      return;
    }
    // A backward pass yielded in ascending order ('both' before the first key-frame): compute, then yield.
    await this.runPass(pass, lo, run, () => {});
    const passSig = this.passSignature(pass);
    for (let t = lo; t <= hi; t++) {
      throwIfAborted(run.signal);
      const b = this.passStores[-1].get(t, passSig);
      if (!b) throw new Error(`internal: frame ${t} missing after its backward pass`);
      yield await emit(t, undefined, b);
    }
  }

  /**
   * Where a forward pass stops: `hi`, or the next key-frame itself when that one is an 'add'
   * key-frame (its composition needs the prediction there; computing it now saves a second walk).
   */
  private forwardEnd(seg: Segment, hi: number): number {
    return seg.right !== undefined && hi === seg.hi && this.keyframes.get(seg.right)?.mode === 'add' ? seg.right : hi;
  }

  private backwardEnd(seg: Segment, lo: number): number {
    return seg.left !== undefined && lo === seg.lo && this.keyframes.get(seg.left)?.mode === 'add' ? seg.left : lo;
  }

  /** Merge of the directions at a non-key frame, by temporal distance × confidence, honouring known channels. */
  private mergeAt(
    seg: Segment,
    t: number,
    f: PropertyMap | undefined,
    b: PropertyMap | undefined,
    fwdPass: PassKey | undefined,
    bwdPass: PassKey | undefined,
  ): PropertyMap {
    if (f && b) {
      const L = seg.left as number;
      const R = seg.right as number;
      const virtual = this.isVirtual(L) && this.isVirtual(R);
      const wf = virtual ? 0.5 : (R - t) / (R - L);
      const wb = virtual ? 0.5 : (t - L) / (R - L);
      return mergeWeighted([
        { map: f, weight: wf, known: this.knownChannels(fwdPass as PassKey) },
        { map: b, weight: wb, known: this.knownChannels(bwdPass as PassKey) },
      ]);
    }
    const one = f ?? b;
    if (!one) throw new Error(`internal: no pass produced frame ${t}`);
    return one;
  }

  /**
   * Channels a pass knows about: all for passes from 'replace' key-frames; for 'add' ones, the
   * objects annotated there plus those the pass reaching it knew. Undefined = all.
   */
  private knownChannels(pass: PassKey): Uint8Array | undefined {
    if (this.isVirtual(pass.start) || !this.layout.objectIds) return ALL_KNOWN;
    const known = new Uint8Array(this.layout.channels);
    known[0] = 1;
    let k: number | undefined = pass.start;
    while (k !== undefined) {
      const rec = this.keyframes.get(k) as KeyframeRecord;
      if (rec.mode === 'replace') return ALL_KNOWN;
      for (const id of rec.content.ids) known[this.layout.objectIds.indexOf(id) + 1] = 1;
      k = this.previousKey(k, pass.step);
    }
    return known.every((v) => v === 1) ? ALL_KNOWN : known;
  }

  /** Run a pass to `end` (inclusive), storing its predictions; `onFrame` sees each one. */
  private async runPass(pass: PassKey, end: number, run: RunContext, onFrame: (t: number, map: PropertyMap) => void): Promise<void> {
    for await (const { t, map } of this.streamPass(pass, end, run)) onFrame(t, map);
  }

  /**
   * The predictions of a pass from its start to `end` (inclusive), in pass order. Predictions
   * already stored under the pass's signature (an interrupted or earlier run) are reused, as guides
   * too, without recomputation.
   */
  private async *streamPass(pass: PassKey, end: number, run: RunContext): AsyncGenerator<{ t: number; map: PropertyMap }> {
    const { step } = pass;
    const passSig = this.passSignature(pass);
    const store = this.passStores[step];
    const virtual = this.isVirtual(pass.start);
    const first = pass.start + step;
    if (step > 0 ? first > end : first < end) return;
    // Fast path: every frame stored already.
    let all = true;
    for (let t = first; step > 0 ? t <= end : t >= end; t += step) if (!store.get(t, passSig)) all = false;
    if (all) {
      for (let t = first; step > 0 ? t <= end : t >= end; t += step) {
        run.progress.skip();
        yield { t, map: store.get(t, passSig) as PropertyMap };
      }
      return;
    }
    const policy = this.policy;
    const window = policy.kind === 'previous' ? policy.n : 1;
    // The pool in propagation order: other key-frames of the side (side-scoped policies), the pass's
    // key-frame, then its predictions. Recent guides are kept; others are reloaded on demand.
    const pool: GuideCandidate[] = [];
    const loaded = new Map<number, Guide>();
    let passStart = 0;
    if (keepsWholePass(policy)) {
      for (const k of this.keyframeIndices()) {
        if (k === pass.start || (step > 0 ? k > pass.start : k < pass.start)) continue;
        pool.push({ index: k, isKeyframe: true, order: -Math.abs(pass.start - k) });
      }
      pool.sort((a, b) => a.order - b.order);
      passStart = pool.length;
    }
    if (!virtual) {
      const kg = await this.keyGuide(pass.start, step, run);
      loaded.set(pass.start, kg);
      pool.push({ index: pass.start, isKeyframe: true, order: 0 });
    }
    const reader = new FrameReader(this.source, step, end);
    const frames = this.framePipeline(reader, first, end, step, (t) => store.get(t, passSig) !== undefined);
    const loadGuide = async (c: GuideCandidate): Promise<Guide> => {
      const hit = loaded.get(c.index);
      if (hit) return hit;
      if (c.isKeyframe) {
        const g = await this.keyGuide(c.index, step, run);
        loaded.set(c.index, g);
        return g;
      }
      const p = store.get(c.index, passSig);
      if (!p) throw new Error(`internal: guide frame ${c.index} is not stored`);
      return { index: c.index, frame: await this.internalFrame(c.index), property: p, isKeyframe: false, key: `${passSig}:${c.index}` };
    };
    try {
      for (let t = first; step > 0 ? t <= end : t >= end; t += step) {
        throwIfAborted(run.signal);
        const frame = await frames.get(t);
        let p = store.get(t, passSig);
        if (!p) {
          const target = { index: t, frame };
          const sets = await chooseGuides(policy, pool, passStart, {
            target,
            frame: (i) => this.internalFrame(i),
            property: async (c) => (await loadGuide(c)).property,
            features: this.features,
            signal: run.signal,
          });
          const resultKey = `${passSig}:${t}`;
          const ctx = { task: this.task, layout: this.layout, features: this.features, resultKey, direction: step, signal: run.signal };
          const maps: WeightedMap[] = [];
          for (const set of sets) {
            const guides = await Promise.all(set.guides.map(loadGuide));
            const q = await this.engine.predict(target, guides, ctx);
            this.checkPrediction(q, t);
            maps.push({ map: q, weight: set.weight });
          }
          if (maps.length === 0) {
            if (this.engine.needsKeyframes) throw new Error(`internal: no guide for frame ${t}`);
            const q = await this.engine.predict(target, [], ctx);
            this.checkPrediction(q, t);
            maps.push({ map: q, weight: 1 });
          }
          p = this.restrict(mergeWeighted(maps), t);
          store.set(t, passSig, p);
          run.progress.tick(t);
        } else {
          run.progress.skip();
        }
        // A map the session changed (ensemble merge, inactive objects) is a new property: a new key.
        const key = `${passSig}:${t}`;
        loaded.set(t, { index: t, frame, property: p, isKeyframe: false, key });
        pool.push({ index: t, isKeyframe: false, order: Math.abs(t - pass.start) });
        // Bound what is held: the window of recent guides (and key-frames), and the pool's size.
        for (const i of loaded.keys()) {
          if (this.keyframes.has(i)) continue;
          if (Math.abs(t - i) >= Math.max(window, 16)) loaded.delete(i);
        }
        if (policy.kind === 'selected') {
          const capped = capPool(pool, policy.poolCap);
          if (capped.length !== pool.length) {
            passStart -= pool.slice(0, passStart).filter((c) => !capped.includes(c)).length;
            pool.length = 0;
            pool.push(...capped);
          }
        } else if (policy.kind === 'previous') {
          // Only the window (and the key-frame at its head) is ever asked for.
          const keep = policy.n + 1;
          if (pool.length - passStart > keep + 8) pool.splice(passStart + 1, pool.length - passStart - 1 - keep);
        } else {
          pool.length = passStart + 1;
        }
        yield { t, map: p };
      }
    } finally {
      frames.close();
    }
  }

  /**
   * The pass's frames at the internal size, prepared ahead on the pool when the session has one and
   * the engine has frame-only work (Engine.prepare). A preparation that fails is reported once and
   * the engine computes those values itself.
   */
  private framePipeline(reader: FrameReader, first: number, end: number, step: 1 | -1, stored: (t: number) => boolean): FramePipeline {
    const read = async (t: number) => this.toInternal(await reader.get(t), t);
    const pool = this.options.pool;
    const prep =
      pool && pool.size > 0 ? this.engine.prepare?.(this.task, { width: this.internalWidth, height: this.internalHeight }) : undefined;
    if (!pool || !prep) return new FramePipeline(read, undefined, first, end, step, 0);
    const pipeline: FramePipeline = new FramePipeline(
      read,
      async (frame, t) => {
        if (stored(t) || this.poolFailed) return;
        try {
          const values = await pool.run(prep, frame, t);
          if (pipeline.isClosed || this.disposed) return;
          for (const [key, value] of Object.entries(values)) this.features.set(t, key, value);
        } catch (err) {
          if (this.poolFailed) return;
          this.poolFailed = true;
          this.options.onWarning?.(
            `frame preparation in workers failed (${err instanceof Error ? err.message : String(err)}); the engine works on the main thread instead`,
          );
        }
      },
      first,
      end,
      step,
      Math.max(0, this.options.lookahead ?? 2 * pool.size + 1),
    );
    return pipeline;
  }

  private checkPrediction(q: PropertyMap, t: number): void {
    if (q.width !== this.internalWidth || q.height !== this.internalHeight) {
      throw new Error(
        `engine ${this.engine.name} returned ${q.width}x${q.height} for frame ${t}, a ${this.internalWidth}x${this.internalHeight} frame`,
      );
    }
    if (q.data.length !== q.channels * q.width * q.height)
      throw new Error(`engine ${this.engine.name} returned ${q.data.length} values for ${q.channels}x${q.height}x${q.width} (frame ${t})`);
    const want = this.layout.channels;
    if (this.taskDef.kind === 'values' ? q.channels !== want : q.channels < want || (this.task === 'mask' && q.channels !== want)) {
      throw new Error(`engine ${this.engine.name} returned ${q.channels} channels for frame ${t}; the ${this.task} layout has ${want}`);
    }
  }

  /**
   * The guide a pass starts from: the key-frame's map at the working size. For an 'add' key-frame
   * this is its annotation put into the prediction that reached it from the previous key-frame in
   * the pass's direction (computed first when needed).
   */
  private async keyGuide(k: number, step: 1 | -1, run: RunContext): Promise<Guide> {
    const state = await this.startState(k, step, run);
    return { index: k, frame: await this.internalFrame(k), property: state.internal, isKeyframe: true, key: state.key };
  }

  private async startState(k: number, step: 1 | -1, run: RunContext): Promise<{ internal: PropertyMap; key: string }> {
    const rec = this.keyframes.get(k) as KeyframeRecord;
    const sig =
      rec.mode === 'replace' ? `kf${k}:${rec.version}:${this.layout.channels}` : `kf${k}:${this.passSignature({ start: k, step })}`;
    let internal = this.startStates.get(sig);
    if (!internal) {
      const full = rec.mode === 'replace' ? rec.content.property(this.layout) : await this.composedKeyframe(k, step, run);
      internal = this.toInternalProperty(this.restrict(full, k));
      this.startStates.set(sig, internal);
    }
    return { internal, key: sig };
  }

  /** An 'add' key-frame at full size: its objects put into the prediction(s) reaching it. */
  private async composedKeyframe(k: number, step: 1 | -1 | 'both', run: RunContext): Promise<PropertyMap> {
    const rec = this.keyframes.get(k) as KeyframeRecord;
    const predicted: WeightedMap[] = [];
    for (const s of step === 'both' ? ([1, -1] as const) : [step]) {
      const prev = this.previousKey(k, s);
      if (prev === undefined) continue;
      const pass = { start: prev, step: s };
      const sig = this.passSignature(pass);
      let p = this.passStores[s].get(k, sig);
      if (!p) {
        await this.runPass(pass, k, run, () => {});
        p = this.passStores[s].get(k, sig);
      }
      if (!p) throw new Error(`internal: the pass from key-frame ${prev} did not reach key-frame ${k}`);
      const distance = Math.abs(k - prev);
      predicted.push({ map: this.toFullProperty(p), weight: 1 / distance, known: this.knownChannels(pass) });
    }
    const n = this.width * this.height;
    let base: PropertyMap;
    if (predicted.length > 0) base = mergeWeighted(predicted);
    else {
      // Nothing reaches it: every pixel not annotated is background.
      const data = new Float32Array(this.layout.channels * n);
      data.fill(1, 0, n);
      base = { width: this.width, height: this.height, channels: this.layout.channels, data };
    }
    if (!rec.content.composeWith) throw new Error(`internal: ${this.task} key-frames cannot be partial`);
    return rec.content.composeWith(padChannels(base, this.layout.channels), this.layout);
  }

  private async keyframeResult(k: number, run: RunContext): Promise<PropagationResult> {
    const rec = this.keyframes.get(k) as KeyframeRecord;
    const step = run.direction === 'forward' ? 1 : run.direction === 'backward' ? -1 : 'both';
    const full = rec.mode === 'replace' ? rec.content.property(this.layout) : await this.composedKeyframe(k, step, run);
    const property = this.restrict(full, k);
    const fields = await this.taskDef.toResult(property, this.layout, () => this.source.frame(k), rec.annotation);
    return { index: k, isKeyframe: true, property, ...fields };
  }

  private async result(index: number, p: PropertyMap, run: RunContext): Promise<PropagationResult> {
    throwIfAborted(run.signal);
    let full = this.toFullProperty(p);
    if (this.taskDef.kind === 'probabilities' && full.channels < this.layout.channels) full = padChannels(full, this.layout.channels);
    let frame: IndexedFrame | undefined;
    const getFrame = async () => {
      frame ??= await this.source.frame(index);
      return frame;
    };
    const refine = this.options.refine && this.options.refine !== 'none' ? this.taskDef.refinements[this.options.refine] : undefined;
    if (refine) full = refine(full, await getFrame());
    const fields = await this.taskDef.toResult(full, this.layout, getFrame);
    return { index, isKeyframe: false, property: full, ...fields };
  }

  private async fitIfNeeded(signal: AbortSignal | undefined): Promise<void> {
    if (!this.engine.fit) return;
    const h = new Hasher().update(this.baseSignature());
    for (const k of this.keyframeIndices()) h.update(`${k}:${(this.keyframes.get(k) as KeyframeRecord).version}`);
    const sig = h.digest();
    if (sig === this.fittedFor) return;
    const guides: Guide[] = [];
    for (const k of this.keyframeIndices()) {
      const rec = this.keyframes.get(k) as KeyframeRecord;
      guides.push({
        index: k,
        frame: await this.internalFrame(k),
        property: this.toInternalProperty(rec.content.property(this.layout)),
        isKeyframe: true,
        key: `kf${k}:${rec.version}`,
      });
    }
    await this.engine.fit(guides, { task: this.task, layout: this.layout, features: this.features, signal });
    this.fittedFor = sig;
  }

  // ---------------------------------------------------------------------------------------------
  // Sizes

  private async internalFrame(index: number): Promise<RgbFrame> {
    return this.toInternal(await this.source.frame(index), index);
  }

  private toInternal(f: RgbFrame, index: number): RgbFrame {
    if (f.width !== this.width || f.height !== this.height) {
      throw new InputError(this.source.info.origin, `frame ${index} is ${f.width}x${f.height}, expected ${this.width}x${this.height}`);
    }
    if (this.internalWidth === this.width && this.internalHeight === this.height) return f;
    return {
      width: this.internalWidth,
      height: this.internalHeight,
      data: resizeBilinearInterleavedU8(f.data, 3, f.width, f.height, this.internalWidth, this.internalHeight),
    };
  }

  private toInternalProperty(p: PropertyMap): PropertyMap {
    return resizeProperty(p, { width: this.internalWidth, height: this.internalHeight });
  }

  private toFullProperty(p: PropertyMap): PropertyMap {
    return resizeProperty(p, { width: this.width, height: this.height });
  }
}

interface RunContext {
  readonly direction: Direction;
  readonly progress: ProgressCounter;
  readonly signal: AbortSignal | undefined;
  readonly last: number;
  readonly from: number;
  readonly to: number;
}

function resizeProperty(p: PropertyMap, size: Size): PropertyMap {
  if (p.width === size.width && p.height === size.height) return p;
  return {
    width: size.width,
    height: size.height,
    channels: p.channels,
    data: resizeBilinearPlanar(p.data, p.channels, p.width, p.height, size.width, size.height),
    confidence: p.confidence ? resizeBilinearPlanar(p.confidence, 1, p.width, p.height, size.width, size.height) : undefined,
  };
}

function range(a: number, b: number, step: 1 | -1): number[] {
  const out: number[] = [];
  for (let t = a; step > 0 ? t <= b : t >= b; t += step) out.push(t);
  return out;
}

function isAbort(err: unknown): boolean {
  return err instanceof AbortError || (err instanceof Error && err.name === 'AbortError');
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
      if (r.done || r.value.index !== t) {
        this.iterator = undefined;
        return this.source.frame(t);
      }
      return r.value;
    }
    const hit = this.block.get(t);
    if (hit) {
      this.block.delete(t);
      return hit;
    }
    this.block.clear();
    const lo = Math.max(this.end, t - FrameReader.BLOCK + 1);
    try {
      for await (const f of this.source.frames(lo, t + 1)) this.block.set(f.index, f);
    } catch {
      // A damaged frame inside the block: read the frames one by one, so the error names the frame itself.
    }
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
    if (this.done > this.total) this.total = this.done;
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
