/**
 * `vprop serve` and `vprop worker`: thin callers of src/server (the HTTP service, its queues and
 * the worker loop). Everything they do is in the server modules, so tests drive the same code.
 */
import { resolve } from 'node:path';
import { InputError } from '../core/errors.js';
import { createServer } from '../server/app.js';
import { InProcessQueue, type JobQueue, parseRedisUrl, RedisQueue, startWorker } from '../server/queue.js';
import { Workspace } from '../server/workspace.js';

export interface ServeCliOptions {
  host: string;
  port: number;
  token?: string;
  data: string;
  queue?: string;
  concurrency: number;
  maxUploadMb: number;
  maxFrames: number;
  quiet?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Runs until SIGINT/SIGTERM. */
export async function runServe(o: ServeCliOptions, version: string): Promise<number> {
  const token = o.token ?? process.env.VPROP_TOKEN;
  if (!LOOPBACK.has(o.host) && !token)
    throw new InputError('--host', `serving on ${o.host} exposes the service beyond this machine: give a --token (or VPROP_TOKEN)`);
  if (token !== undefined && token.length < 16) throw new InputError('--token', 'must be at least 16 characters');
  const data = resolve(o.data);
  let queue: JobQueue;
  if (o.queue) {
    parseRedisUrl(o.queue);
    const q = new RedisQueue(o.queue);
    await q.ready();
    queue = q;
  } else
    queue = new InProcessQueue(new Workspace(data), o.concurrency, (id, err) =>
      process.stderr.write(`vprop serve: job ${id} failed: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  const app = await createServer({ data, queue, token, maxUploadBytes: o.maxUploadMb * 1024 * 1024, maxFrames: o.maxFrames, version });
  const address = await app.listen({ host: o.host, port: o.port });
  const url = new URL(address);
  if (LOOPBACK.has(o.host)) url.hostname = o.host === '::1' ? '[::1]' : '127.0.0.1';
  if (token) url.searchParams.set('token', token);
  process.stdout.write(
    `vprop serve: open ${url.href}\n  data ${data}; jobs ${o.queue ? `on ${o.queue} (start workers with: vprop worker --queue ${o.queue} --data ${data})` : `in this process (${o.concurrency} at a time)`}\n`,
  );
  await new Promise<void>((done) => {
    const stop = () => done();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (!o.quiet) process.stderr.write('vprop serve: stopping (running jobs resume from their workspaces when restarted)\n');
  await app.close();
  return 0;
}

export interface WorkerCliOptions {
  queue: string;
  data: string;
  concurrency: number;
  lockMs: number;
  stalledMs: number;
  quiet?: boolean;
}

export async function runWorker(o: WorkerCliOptions): Promise<number> {
  parseRedisUrl(o.queue);
  const w = await startWorker({
    queue: o.queue,
    data: resolve(o.data),
    concurrency: o.concurrency,
    lockDurationMs: o.lockMs,
    stalledIntervalMs: o.stalledMs,
    onLog: o.quiet ? undefined : (line) => process.stdout.write(`${line}\n`),
  });
  if (!o.quiet) process.stdout.write(`vprop worker: pid ${process.pid} waiting for jobs on ${o.queue}\n`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  await w.close();
  return 0;
}
