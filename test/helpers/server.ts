/**
 * Helpers for the HTTP service tests: a synthetic clip as an mp4 with its first frame's exact
 * masks as a palette PNG, HTTP calls with status checks, following a job's Server-Sent Events,
 * reading a zip, and a Redis server of the test's own (Debian's redis-server on a free loopback
 * port, AOF on, so a restart keeps the queue).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { encodePalettePng } from '../../src/formats/png.js';
import { createScene } from '../../src/synth/index.js';
import { Mp4Sink } from '../../src/video/sinks.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API under test; the tests assert their shape
export type Json = any;

export interface Clip {
  /** The video file (mp4 unless made as webm). */
  readonly mp4: string;
  readonly keyframePng: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly frames: number;
}

/** A synthetic scene as an mp4 and its frame-0 ground truth masks (the key-frame). */
export async function makeClip(
  dir: string,
  opts: { frames: number; width?: number; height?: number; seed?: number; container?: 'mp4' | 'webm' },
): Promise<Clip> {
  const width = opts.width ?? 160;
  const height = opts.height ?? 120;
  const scene = createScene({ seed: opts.seed ?? 3, width, height, frames: opts.frames, objects: 2 });
  mkdirSync(dir, { recursive: true });
  const mp4 = join(dir, `clip-${opts.frames}-${width}x${height}.${opts.container ?? 'mp4'}`);
  const sink = new Mp4Sink(mp4, { width, height, fps: 10, crf: 12 });
  for (let t = 0; t < opts.frames; t++) await sink.write(t, scene.render(t).rgb);
  await sink.close();
  return { mp4, keyframePng: encodePalettePng(scene.render(0).labels), width, height, frames: opts.frames };
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: RequestInit['body'],
  type?: string,
): Promise<{ status: number; json: Json }> {
  const r = await fetch(`${base}${path}`, { method, body, headers: type ? { 'content-type': type } : {} });
  const text = await r.text();
  let json: Json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

/** Upload, key-frame, start a job; returns the job id. */
export async function submitJob(base: string, clip: Clip, mp4Bytes: Uint8Array, job: Record<string, unknown> = {}): Promise<string> {
  const v = await call(base, 'POST', '/api/videos', new Blob([mp4Bytes]), 'video/mp4');
  if (v.status !== 201) throw new Error(`upload: ${v.status} ${JSON.stringify(v.json)}`);
  const k = await call(base, 'PUT', `/api/videos/${v.json.id}/keyframes/0?task=mask`, new Blob([clip.keyframePng]), 'image/png');
  if (k.status !== 201) throw new Error(`key-frame: ${k.status} ${JSON.stringify(k.json)}`);
  const j = await call(base, 'POST', '/api/jobs', JSON.stringify({ videoId: v.json.id, engine: 'bilateral', ...job }), 'application/json');
  if (j.status !== 202) throw new Error(`job: ${j.status} ${JSON.stringify(j.json)}`);
  return j.json.id as string;
}

export interface SseEvent {
  readonly event: string;
  readonly data: Json;
}

/** Follow a job's event stream to its end (the server closes it after a final state). */
export async function followEvents(base: string, jobId: string, timeoutMs = 120_000): Promise<SseEvent[]> {
  const r = await fetch(`${base}/api/jobs/${jobId}/events`, { signal: AbortSignal.timeout(timeoutMs) });
  if (r.status !== 200) throw new Error(`events: HTTP ${r.status}`);
  const text = await r.text();
  const events: SseEvent[] = [];
  for (const block of text.split('\n\n')) {
    const ev = /^event: (.+)$/m.exec(block);
    const data = /^data: (.+)$/m.exec(block);
    if (ev && data) events.push({ event: ev[1], data: JSON.parse(data[1]) });
  }
  return events;
}

/** Poll GET /api/jobs/:id until a final state. */
export async function waitForJob(base: string, jobId: string, timeoutMs = 180_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call(base, 'GET', `/api/jobs/${jobId}`);
    const s = r.json?.status?.state;
    if (s === 'done' || s === 'failed' || s === 'cancelled') return r.json;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${s} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

export async function fetchZip(base: string, jobId: string): Promise<Record<string, Uint8Array>> {
  const r = await fetch(`${base}/api/jobs/${jobId}/result.zip`);
  if (r.status !== 200) throw new Error(`zip: HTTP ${r.status}`);
  return unzipSync(new Uint8Array(await r.arrayBuffer()));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export const redisAvailable = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;

/** A redis-server of the test's own: loopback, a free port, AOF in `dir` (restarts keep the queue). */
export class TestRedis {
  private child: ChildProcess | undefined;
  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always'];
    this.child = spawn('redis-server', [...args, '--save', '', '--daemonize', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() === 'PONG') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }
  /** Stop the server (SIGTERM: redis writes its AOF and exits) and wait for it. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  }
}
