/**
 * Node's FramePool: worker_threads that load engines' preparation modules by URL and return their
 * values with the typed arrays' buffers transferred (not copied). Workers start on the first job;
 * an idle pool does not keep the process alive.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { RgbFrame } from '../core/types.js';
import type { FramePreparation } from '../engines/types.js';
import { siblingModuleUrl } from '../util/module-url.js';
import type { FramePool } from './pool.js';

interface Job {
  readonly id: number;
  readonly message: { id: number; module: string; options: unknown; frame: RgbFrame; index: number };
  resolve(values: Record<string, unknown>): void;
  reject(err: Error): void;
}

interface Slot {
  readonly worker: Worker;
  job: Job | undefined;
}

/** Workers a session gets by default: every core but the one the propagation runs on, at most 3. */
export function defaultWorkerCount(): number {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

export function createNodeFramePool(size = defaultWorkerCount()): FramePool {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`workers must be an integer >= 0, got ${size}`);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;
  const entry = new URL(siblingModuleUrl(import.meta.url, 'frame-worker'));

  const fail = (slot: Slot, err: Error) => {
    const job = slot.job;
    slot.job = undefined;
    job?.reject(err);
  };
  const start = (): Slot => {
    const worker = entry.pathname.endsWith('.ts') ? tsWorker(entry) : new Worker(entry);
    const slot: Slot = { worker, job: undefined };
    worker.on('message', (msg: { id: number; values?: Record<string, unknown>; error?: { message: string; stack?: string } }) => {
      const job = slot.job;
      if (!job || job.id !== msg.id) return;
      slot.job = undefined;
      if (msg.error) {
        const err = new Error(msg.error.message);
        if (msg.error.stack) err.stack = msg.error.stack;
        job.reject(err);
      } else job.resolve(msg.values ?? {});
      dispatch();
    });
    worker.on('error', (err) => {
      fail(slot, err);
      slots.splice(slots.indexOf(slot), 1);
      dispatch();
    });
    worker.on('exit', (code) => {
      if (slot.job) fail(slot, new Error(`frame worker exited with code ${code}`));
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
    });
    slots.push(slot);
    return slot;
  };
  const dispatch = () => {
    while (queue.length > 0) {
      let slot = slots.find((s) => !s.job);
      if (!slot && slots.length < size) slot = start();
      if (!slot) break;
      const job = queue.shift() as Job;
      slot.job = job;
      slot.worker.postMessage(job.message);
    }
    // Busy workers keep the process alive (a job is awaited); idle ones must not.
    for (const s of slots) {
      if (s.job) s.worker.ref();
      else s.worker.unref();
    }
  };

  return {
    size,
    run(prep: FramePreparation, frame: RgbFrame, index: number): Promise<Record<string, unknown>> {
      if (closed) return Promise.reject(new Error('frame pool is closed'));
      if (size === 0) return Promise.reject(new Error('frame pool has no workers'));
      return new Promise((resolve, reject) => {
        const id = nextId++;
        // The frame is copied (the session keeps using its own).
        queue.push({ id, message: { id, module: prep.module, options: prep.options, frame, index }, resolve, reject });
        dispatch();
      });
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('frame pool is closed'));
      await Promise.all(slots.splice(0).map((s) => s.worker.terminate()));
    },
  };
}

/**
 * Running from the TypeScript sources (tests, `node --import tsx`): a worker does not inherit tsx's
 * module hooks, so it registers them before loading its entry.
 */
function tsWorker(entry: URL): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`, {
    eval: true,
  });
}
