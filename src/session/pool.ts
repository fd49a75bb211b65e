/**
 * A pool that runs engines' frame preparations (Engine.prepare) off the main thread, so the
 * frame-only work of the next frames (superpixels, lattices, ...) overlaps the propagation of the
 * current one. The session only knows this interface; Node's implementation uses worker_threads
 * (node-pool.ts). This module imports nothing from Node.
 */
import type { RgbFrame } from '../core/types.js';
import type { FramePreparation } from '../engines/types.js';

export interface FramePool {
  /** Workers (0 = the pool does nothing and the engine computes everything itself). */
  readonly size: number;
  /** `prepareFrame(frame, index, prep.options)` of `prep.module`, in a worker; its values by key. */
  run(prep: FramePreparation, frame: RgbFrame, index: number): Promise<Record<string, unknown>>;
  /** Stop the workers (jobs still queued are rejected). */
  close(): Promise<void>;
}

/**
 * Frames of a pass read in order and prepared ahead: `get(t)` returns frame t once its preparation
 * has finished (or failed: the engine then computes the values itself), after scheduling the next
 * `depth` frames. Reads stay sequential (decoders stream); preparations run in parallel on the
 * pool. Errors of a read surface from `get` of that frame, in order. Memory: `depth` frames and
 * their prepared values.
 */
export class FramePipeline {
  private readonly slots = new Map<number, Promise<RgbFrame>>();
  private reads: Promise<unknown> = Promise.resolve();
  private next: number;
  private closed = false;

  constructor(
    private readonly read: (t: number) => Promise<RgbFrame>,
    private readonly prepare: ((frame: RgbFrame, t: number) => Promise<void>) | undefined,
    first: number,
    private readonly end: number,
    private readonly step: 1 | -1,
    private readonly depth: number,
  ) {
    this.next = first;
  }

  async get(t: number): Promise<RgbFrame> {
    if (this.closed) throw new Error('internal: frame pipeline is closed');
    const last = this.step > 0 ? Math.min(this.end, t + this.step * this.depth) : Math.max(this.end, t + this.step * this.depth);
    while (this.step > 0 ? this.next <= last : this.next >= last) {
      this.schedule(this.next);
      this.next += this.step;
    }
    const slot = this.slots.get(t);
    if (!slot) throw new Error(`internal: frame ${t} was not scheduled`);
    this.slots.delete(t);
    return slot;
  }

  /** Stop preparing; values that arrive later are dropped. */
  close(): void {
    this.closed = true;
    this.slots.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private schedule(t: number): void {
    const read = this.reads.then(() => this.read(t));
    this.reads = read.catch(() => undefined);
    const ready = read.then(async (frame) => {
      if (this.prepare && !this.closed) await this.prepare(frame, t);
      return frame;
    });
    // Awaited by get(t); until then a failure must not count as unhandled.
    ready.catch(() => undefined);
    this.slots.set(t, ready);
  }
}
