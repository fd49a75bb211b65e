/**
 * Wrap any `AsyncIterable<RgbFrame>` (a camera, a generator, WebCodecs output adapted to RGB) as
 * a `FrameSource`, plus the small helpers every source shares (bounded frame cache, range checks).
 *
 * A one-shot iterable cannot rewind, so random access is limited:
 * - frames ahead of the read position are reached by consuming (and discarding all but the last
 *   `lookBack` of them);
 * - frames behind are available only while they are inside the look-back buffer (default 8);
 *   asking for an older frame is an `InputError`.
 * Several `frames()` iterations may run at once; they share the one underlying iterator.
 */
import { AbortError, InputError, throwIfAborted } from '../core/errors.js';
import type { IndexedFrame, RgbFrame } from '../core/types.js';
import type { FrameSource, SourceInfo } from './types.js';

/** Bounded least-recently-used frame cache: memory stays constant however long the video. */
export class FrameLru {
  private readonly map = new Map<number, IndexedFrame>();
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache size must be a non-negative integer, got ${capacity}`);
  }
  get(index: number): IndexedFrame | undefined {
    const f = this.map.get(index);
    if (f !== undefined) {
      // Re-insert to mark as most recently used (Map keeps insertion order).
      this.map.delete(index);
      this.map.set(index, f);
    }
    return f;
  }
  set(frame: IndexedFrame): void {
    if (this.capacity === 0) return;
    this.map.delete(frame.index);
    this.map.set(frame.index, frame);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as number;
      this.map.delete(oldest);
    }
  }
  has(index: number): boolean {
    return this.map.has(index);
  }
  /** Smallest cached index (the look-back limit for one-shot sources). */
  minIndex(): number | undefined {
    let m: number | undefined;
    for (const k of this.map.keys()) if (m === undefined || k < m) m = k;
    return m;
  }
  clear(): void {
    this.map.clear();
  }
  get size(): number {
    return this.map.size;
  }
}

/** Validate `frame(index)` against a known or unknown frame count. */
export function checkIndex(origin: string, index: number, frameCount: number | undefined): void {
  if (!Number.isInteger(index) || index < 0 || (frameCount !== undefined && index >= frameCount)) {
    const range = frameCount === undefined ? 'a non-negative integer' : `an integer in [0, ${frameCount - 1}]`;
    throw new InputError(origin, `frame index ${index} is out of range (expected ${range})`);
  }
}

/** Resolve `frames(from, to)` arguments to a concrete half-open range. */
export function resolveRange(
  origin: string,
  from: number | undefined,
  to: number | undefined,
  frameCount: number | undefined,
): [number, number] {
  const f = from ?? 0;
  const t = to ?? frameCount ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(f) || f < 0) throw new InputError(origin, `frames(from): ${from} is not a non-negative integer`);
  if (t !== Number.POSITIVE_INFINITY && (!Number.isInteger(t) || t < f))
    throw new InputError(origin, `frames(from, to): invalid range [${f}, ${to})`);
  const end = frameCount === undefined ? t : Math.min(t, frameCount);
  return [f, end];
}

/** Serialise async operations (one decoder or one iterator can only serve one caller at a time). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export interface IterableSourceOptions {
  /** Description used in `info.origin` and error messages. */
  origin?: string;
  fps?: number;
  /** How many of the most recent frames stay available for going back (default 8). */
  lookBack?: number;
  signal?: AbortSignal;
}

/**
 * A `FrameSource` over a one-shot async iterable. Pulls the first frame immediately to learn the
 * size; `info.frameCount` stays undefined.
 */
export async function fromAsyncIterable(iterable: AsyncIterable<RgbFrame>, opts: IterableSourceOptions = {}): Promise<IterableFrameSource> {
  const src = new IterableFrameSource(iterable, opts);
  await src.start();
  return src;
}

export class IterableFrameSource implements FrameSource {
  private readonly iterator: AsyncIterator<RgbFrame>;
  private readonly buffer: FrameLru;
  private readonly mutex = new Mutex();
  private readonly origin: string;
  private readonly fps: number | undefined;
  private readonly signal: AbortSignal | undefined;
  private width = 0;
  private height = 0;
  /** Index the next pulled frame will get. */
  private nextIndex = 0;
  private ended = false;
  private closed = false;
  private _info: SourceInfo | undefined;

  constructor(iterable: AsyncIterable<RgbFrame>, opts: IterableSourceOptions) {
    this.iterator = iterable[Symbol.asyncIterator]();
    this.origin = opts.origin ?? 'async iterable';
    this.fps = opts.fps;
    this.signal = opts.signal;
    this.buffer = new FrameLru(Math.max(1, opts.lookBack ?? 8));
  }

  get info(): SourceInfo {
    if (this._info === undefined) throw new Error('IterableFrameSource used before start(); create it with fromAsyncIterable()');
    return this._info;
  }

  /** @internal Pull the first frame to learn the frame size. */
  async start(): Promise<void> {
    const first = await this.mutex.run(() => this.pull());
    if (first === undefined) throw new InputError(this.origin, 'the iterable produced no frames');
    this._info = { kind: 'iterable', origin: this.origin, width: first.width, height: first.height, frameCount: undefined, fps: this.fps };
  }

  /** Pull one frame from the underlying iterator (caller holds the mutex). */
  private async pull(): Promise<IndexedFrame | undefined> {
    if (this.closed) throw new AbortError('source closed');
    throwIfAborted(this.signal);
    if (this.ended) return undefined;
    const r = await this.iterator.next();
    if (r.done) {
      this.ended = true;
      return undefined;
    }
    const f = r.value;
    const index = this.nextIndex;
    if (index === 0) {
      if (!(f.width > 0 && f.height > 0 && Number.isInteger(f.width) && Number.isInteger(f.height))) {
        throw new InputError(this.origin, `frame 0 has an invalid size ${f.width}x${f.height}`);
      }
      this.width = f.width;
      this.height = f.height;
    } else if (f.width !== this.width || f.height !== this.height) {
      throw new InputError(
        this.origin,
        `frame ${index} is ${f.width}x${f.height} but frame 0 is ${this.width}x${this.height}; all frames must share one size`,
      );
    }
    if (f.data.length !== f.width * f.height * 3) {
      throw new InputError(this.origin, `frame ${index} has ${f.data.length} bytes, expected ${f.width * f.height * 3} (interleaved RGB)`);
    }
    const frame: IndexedFrame = { width: f.width, height: f.height, data: f.data, index };
    this.nextIndex++;
    this.buffer.set(frame);
    return frame;
  }

  private unavailable(index: number): InputError {
    const oldest = this.buffer.minIndex() ?? this.nextIndex;
    return new InputError(
      this.origin,
      `frame ${index} is no longer available: an async-iterable source keeps only the last ${this.buffer.capacity} frames (oldest held: ${oldest}); read frames in order or raise lookBack`,
    );
  }

  async frame(index: number): Promise<IndexedFrame> {
    checkIndex(this.origin, index, undefined);
    return this.mutex.run(async () => {
      const hit = this.buffer.get(index);
      if (hit) return hit;
      if (index < this.nextIndex) throw this.unavailable(index);
      for (;;) {
        const f = await this.pull();
        if (f === undefined)
          throw new InputError(this.origin, `frame ${index} requested but the iterable ended after ${this.nextIndex} frames`);
        if (f.index === index) return f;
      }
    });
  }

  async *frames(from?: number, to?: number): AsyncGenerator<IndexedFrame> {
    const [start, end] = resolveRange(this.origin, from, to, undefined);
    for (let i = start; i < end; i++) {
      const f = await this.mutex.run(async () => {
        const hit = this.buffer.get(i);
        if (hit) return hit;
        if (i < this.nextIndex) throw this.unavailable(i);
        let g: IndexedFrame | undefined;
        do g = await this.pull();
        while (g !== undefined && g.index < i);
        return g;
      });
      if (f === undefined) return;
      yield f;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<IndexedFrame> {
    return this.frames()[Symbol.asyncIterator]();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    // Let a generator-based producer run its finally blocks (release its own resources).
    await this.iterator.return?.();
  }
}
