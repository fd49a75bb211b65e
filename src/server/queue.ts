/**
 * Where jobs run. Two queues behind one interface:
 *
 * - `InProcessQueue` (the default; nothing to install): jobs run one after another (or N at a
 *   time) inside the server process.
 * - `RedisQueue` (`vprop serve --queue redis://HOST:PORT`): BullMQ over Redis; `vprop worker`
 *   processes on any machine that sees the same data folder run them. BullMQ is the standard job
 *   queue of the Node ecosystem (atomic moves between states in Lua scripts, locks renewed while a
 *   job runs, stalled-job recovery, retries with backoff), so a worker that dies — `kill -9`, a
 *   lost machine — has its job moved back to waiting when its lock expires and another worker
 *   resumes it from the job's workspace cache.
 *
 * Progress crosses processes as BullMQ progress updates (one `JobEvent` each) that the server
 * receives through `QueueEvents`; cancellation crosses them as a marker file in the job's
 * workspace (see jobs.ts), which also survives a Redis restart.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Queue, QueueEvents, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { InputError, isAbortError } from '../core/errors.js';
import { type JobEvent, JobInputError, runJob } from './jobs.js';
import { Workspace } from './workspace.js';

export interface JobQueue {
  readonly kind: 'in-process' | 'redis';
  /** Queue a job whose workspace is complete (spec.json written). */
  enqueue(jobId: string): Promise<void>;
  /** Take a job that has not started out of the queue; false when it is running or gone. */
  removeWaiting(jobId: string): Promise<boolean>;
  /** Whether the queue still holds the job (waiting, delayed for a retry, or running). */
  pending(jobId: string): Promise<boolean>;
  /** Follow one job's events; returns the unsubscribe function. */
  subscribe(jobId: string, listener: (e: JobEvent) => void): () => void;
  close(): Promise<void>;
}

/** Parse `redis://HOST:PORT[/DB]` (password as `redis://:PASS@HOST:PORT`). */
export function parseRedisUrl(url: string): { host: string; port: number; db?: number; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InputError('--queue', `"${url}" is not a URL; expected redis://HOST:PORT`);
  }
  if (u.protocol !== 'redis:') throw new InputError('--queue', `"${url}": only redis://HOST:PORT queues are supported`);
  const port = u.port ? Number(u.port) : 6379;
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new InputError('--queue', `"${url}": database must be a number`);
  return { host: u.hostname || '127.0.0.1', port, db, password: u.password ? decodeURIComponent(u.password) : undefined };
}

export const QUEUE_NAME = 'vprop-jobs';

// ---------------------------------------------------------------------------------------------

export class InProcessQueue implements JobQueue {
  readonly kind = 'in-process';
  private readonly events = new EventEmitter();
  private readonly waiting: string[] = [];
  private readonly running = new Map<string, AbortController>();
  private closed = false;
  private readonly idle = new Set<() => void>();

  constructor(
    private readonly workspace: Workspace,
    private readonly concurrency = 1,
    /** Told about every job that ends in an error (its status file says the same). */
    private readonly onJobError?: (jobId: string, err: unknown) => void,
  ) {
    this.events.setMaxListeners(0);
  }

  async enqueue(jobId: string): Promise<void> {
    this.waiting.push(jobId);
    this.pump();
  }

  async removeWaiting(jobId: string): Promise<boolean> {
    const i = this.waiting.indexOf(jobId);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  async pending(jobId: string): Promise<boolean> {
    return this.waiting.includes(jobId) || this.running.has(jobId);
  }

  subscribe(jobId: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(jobId, listener);
    return () => this.events.off(jobId, listener);
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift() as string;
      const controller = new AbortController();
      this.running.set(id, controller);
      runJob(this.workspace.jobDir(id), { signal: controller.signal, onEvent: (e) => this.events.emit(id, e) })
        .catch((err) => {
          // The job's status file and its last event say how it ended; cancellations are not errors.
          if (!isAbortError(err)) this.onJobError?.(id, err);
        })
        .finally(() => {
          this.running.delete(id);
          for (const f of this.idle) f();
          this.pump();
        });
    }
  }

  /** Stop: running jobs are interrupted (their caches let a later server resume them). */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.running.values()) c.abort();
    while (this.running.size > 0) await new Promise<void>((r) => this.idle.add(r));
  }
}

// ---------------------------------------------------------------------------------------------

export interface RedisQueueOptions {
  /** Attempts per job (the first run plus retries after failures), default 3. */
  readonly attempts?: number;
}

export class RedisQueue implements JobQueue {
  readonly kind = 'redis';
  private readonly queue: Queue;
  private readonly queueEvents: QueueEvents;
  private readonly events = new EventEmitter();

  constructor(
    url: string,
    private readonly opts: RedisQueueOptions = {},
  ) {
    const connection = { ...parseRedisUrl(url), maxRetriesPerRequest: null };
    this.queue = new Queue(QUEUE_NAME, { connection });
    this.queueEvents = new QueueEvents(QUEUE_NAME, { connection });
    this.events.setMaxListeners(0);
    this.queueEvents.on('progress', ({ jobId, data }) => this.events.emit(jobId, data as JobEvent));
    // Errors while Redis is away are retried by the client; they must not crash the server.
    this.queue.on('error', () => {});
    this.queueEvents.on('error', () => {});
  }

  async ready(): Promise<void> {
    await this.queue.waitUntilReady();
    await this.queueEvents.waitUntilReady();
  }

  async enqueue(jobId: string): Promise<void> {
    // The job id is the BullMQ id: adding it twice is a no-op, so a retried request cannot duplicate it.
    await this.queue.add(
      'propagate',
      { jobId },
      {
        jobId,
        attempts: this.opts.attempts ?? 3,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  async removeWaiting(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    try {
      await job.remove();
      return true;
    } catch {
      return false; // a worker took it in the meantime
    }
  }

  async pending(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(jobId);
    if (!job) return false;
    const state = await job.getState();
    return state === 'waiting' || state === 'delayed' || state === 'active' || state === 'prioritized' || state === 'waiting-children';
  }

  /** Stop handing jobs to workers (maintenance); queued jobs wait. */
  async pause(): Promise<void> {
    await this.queue.pause();
  }

  async resume(): Promise<void> {
    await this.queue.resume();
  }

  /** Counts by state, for tests and monitoring. */
  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
  }

  subscribe(jobId: string, listener: (e: JobEvent) => void): () => void {
    this.events.on(jobId, listener);
    return () => this.events.off(jobId, listener);
  }

  async close(): Promise<void> {
    await this.queueEvents.close();
    await this.queue.close();
  }
}

export interface WorkerOptions {
  /** redis://HOST:PORT */
  readonly queue: string;
  /** The data folder the server uses (shared between machines). */
  readonly data: string;
  readonly concurrency?: number;
  /**
   * How long a job's lock lasts without renewal (ms, default 30 s): after a worker dies its job
   * waits this long before another worker takes it over. Renewed every half of it while running.
   */
  readonly lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died (ms, default 30 s). */
  readonly stalledIntervalMs?: number;
  readonly onLog?: (line: string) => void;
}

/** A `vprop worker`: runs queued jobs until `close()`. */
export async function startWorker(opts: WorkerOptions): Promise<{ close(): Promise<void>; worker: Worker }> {
  const workspace = new Workspace(opts.data);
  const connection = { ...parseRedisUrl(opts.queue), maxRetriesPerRequest: null };
  const log = opts.onLog ?? (() => {});
  const name = `${hostname()}:${process.pid}`;
  const shutdown = new AbortController();
  const worker = new Worker(
    QUEUE_NAME,
    async (job, token) => {
      const jobId = (job.data as { jobId: string }).jobId;
      const attempts = job.opts.attempts ?? 1;
      const attempt = job.attemptsMade + 1;
      log(`${name}: job ${jobId} attempt ${attempt} (stalled ${job.stalledCounter ?? 0})`);
      try {
        const status = await runJob(workspace.jobDir(jobId), {
          signal: shutdown.signal,
          attempt,
          lastAttempt: attempt >= attempts,
          onEvent: (e) => {
            // Progress is advisory: losing one while Redis restarts must not fail the job.
            job.updateProgress(e as unknown as object).catch(() => {});
          },
        });
        log(`${name}: job ${jobId} done (${status.written} frames, ${status.computed} computed)`);
        return { written: status.written, computed: status.computed, worker: name };
      } catch (err) {
        if (isAbortError(err) && shutdown.signal.aborted) {
          // This worker is stopping: hand the job back to the queue without spending an attempt;
          // the next worker resumes it from its cache.
          await job.moveToWait(token);
          log(`${name}: job ${jobId} handed back (worker stopping)`);
          throw new WaitingError();
        }
        if (isAbortError(err)) throw new UnrecoverableError('cancelled');
        if (err instanceof JobInputError) throw new UnrecoverableError(err.message);
        log(`${name}: job ${jobId} failed: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      }
    },
    {
      connection,
      concurrency: opts.concurrency ?? 1,
      lockDuration: opts.lockDurationMs ?? 30_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      // A job is taken over up to twice after its worker died before it is given up as failed.
      maxStalledCount: 2,
    },
  );
  worker.on('error', (err) => log(`${name}: queue error: ${err.message}`));
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      shutdown.abort();
      await worker.close();
    },
  };
}
