/**
 * Benchmarks of the web app and the HTTP service (bench/RESULTS.md, "Web app and HTTP service"):
 *
 * 1. frames/s of propagation in the browser (the web app's Web Worker in Debian's headless
 *    Chromium) against Node, same engine (bilateral), same clip (DAVIS blackswan, its frame-0
 *    annotation, frames 0..N forward), same working size; the browser's time is the worker's
 *    (session, key-frame, propagation), Node's the same steps through the library.
 * 2. Job throughput (jobs/minute) with 1 and 2 `vprop worker` processes on a Redis queue.
 * 3. Server memory (RSS of a `vprop serve` process, in-process queue) over 20 jobs.
 *
 *   node --import tsx bench/web-server.ts [--runs 3] [--frames 20] [--jobs 12] [--size 427]
 *
 * Needs /usr/bin/chromium, redis-server and ../shared/data/davis (parts without them are skipped).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLabelPng } from '../src/formats/png.js';
import { createServer } from '../src/server/app.js';
import { InProcessQueue } from '../src/server/queue.js';
import { Workspace } from '../src/server/workspace.js';
import { openVideo } from '../src/session/open.js';
import { call, freePort, makeClip, submitJob, TestRedis, waitForJob } from '../test/helpers/server.js';
import { argValue, davisRoot, machine, median, projectRoot } from './common.js';

const runs = Number(argValue('runs', '3'));
const frames = Number(argValue('frames', '20'));
const jobs = Number(argValue('jobs', '12'));
const size = argValue('size', '427') as string;
const root = mkdtempSync(join(tmpdir(), 'vprop-bench-web-'));
const seq = join(davisRoot, 'JPEGImages', '480p', 'blackswan');
const annotation = join(davisRoot, 'Annotations', '480p', 'blackswan', '00000.png');
const cli = join(projectRoot, 'test', 'helpers', 'run-cli.ts');
const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};

async function nodeFps(): Promise<number> {
  const mask = await readLabelPng(annotation, { grayscale: 'binary' });
  const started = performance.now();
  const session = await openVideo(seq, { engine: 'bilateral', maxInternalSize: Number(size) });
  session.addKeyframe(0, { mask });
  let computed = 0;
  for await (const r of session.propagate({ direction: 'forward', to: frames })) if (!r.isKeyframe) computed++;
  const seconds = (performance.now() - started) / 1000;
  await session.dispose();
  return computed / seconds;
}

async function browserFps(): Promise<number[]> {
  const { chromium } = await import('playwright-core');
  const webRoot = join(root, 'web');
  execFileSync(process.execPath, [join(projectRoot, 'scripts', 'build-web.mjs'), '--out', webRoot]);
  const data = join(root, 'data-browser');
  const app = await createServer({ data, queue: new InProcessQueue(new Workspace(data)), webRoot });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const out: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(app.server.address() as { port: number }).port}/`);
      await page.waitForSelector('body[data-ready]');
      await page.setInputFiles('#open-folder', seq);
      await page.waitForFunction('window.vprop.frames === 50', null, { timeout: 120_000 });
      await page.setInputFiles('#import-mask', annotation);
      await page.waitForFunction('window.vprop.keyframes.length === 1');
      await page.selectOption('#engine', 'bilateral');
      await page.selectOption('#direction', 'forward');
      await page.fill('#max-internal-size', size);
      await page.fill('#range-to', String(frames));
      await page.click('#propagate');
      await page.waitForFunction("document.body.dataset.run === 'idle' || document.body.dataset.run === 'error'", null, {
        timeout: 600_000,
      });
      const s = (await page.evaluate('window.vprop.summary')) as { computed: number; seconds: number };
      out.push(s.computed / s.seconds);
      await page.close();
    }
  } finally {
    await browser.close();
    await app.close();
  }
  return out;
}

function startWorker(url: string, data: string): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', cli, 'worker', '--queue', url, '--data', data, '--quiet'], {
    cwd: projectRoot,
    stdio: 'ignore',
  });
}

async function throughput(workerCount: number): Promise<number> {
  const redis = new TestRedis(await freePort(), join(root, `redis-${workerCount}-${Math.random()}`));
  await redis.start();
  const { RedisQueue } = await import('../src/server/queue.js');
  const queue = new RedisQueue(redis.url);
  await queue.ready();
  const data = join(root, `data-q${workerCount}-${Math.random()}`);
  const app = await createServer({ data, queue });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const workers = Array.from({ length: workerCount }, () => startWorker(redis.url, data));
  try {
    const clip = await makeClip(join(root, 'clips'), { frames: 30, width: 320, height: 240 });
    const bytes = new Uint8Array(readFileSync(clip.mp4));
    // Warm-up: every worker has loaded its code before the clock starts.
    await Promise.all(Array.from({ length: workerCount }, async () => waitForJob(base, await submitJob(base, clip, bytes))));
    const started = performance.now();
    const ids = await Promise.all(Array.from({ length: jobs }, () => submitJob(base, clip, bytes)));
    for (const id of ids) if ((await waitForJob(base, id, 900_000)).status.state !== 'done') throw new Error(`job ${id} failed`);
    return (jobs * 60_000) / (performance.now() - started);
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await app.close();
    await redis.stop();
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function serverMemory(): Promise<number[]> {
  const port = await freePort();
  const data = join(root, 'data-mem');
  const server = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', String(port), '--data', data, '--quiet'], {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 300; i++) {
      if ((await fetch(`${base}/api/health`).catch(() => undefined))?.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const clip = await makeClip(join(root, 'clips'), { frames: 30, width: 320, height: 240 });
    const bytes = new Uint8Array(readFileSync(clip.mp4));
    const samples: number[] = [rssMiB(server.pid as number)];
    for (let j = 0; j < 20; j++) {
      const id = await submitJob(base, clip, bytes);
      if ((await waitForJob(base, id, 900_000)).status.state !== 'done') throw new Error(`job ${id} failed`);
      await call(base, 'GET', `/api/jobs/${id}/result.zip`);
      samples.push(rssMiB(server.pid as number));
    }
    return samples;
  } finally {
    server.kill('SIGTERM');
  }
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
log(`# web app and HTTP service benchmarks, ${new Date().toISOString()}`);
log(`machine: ${machine()}; load average at start ${load()}`);
try {
  if (existsSync('/usr/bin/chromium') && existsSync(seq)) {
    const node: number[] = [];
    for (let r = 0; r < runs; r++) node.push(await nodeFps());
    const web = await browserFps();
    log(`bilateral, DAVIS blackswan frames 1..${frames} forward from its annotation, working size ${size} px, ${runs} runs each:`);
    log(`  Node:     ${median(node).toFixed(2)} frames/s median (${node.map((v) => v.toFixed(2)).join(', ')})`);
    log(
      `  browser:  ${median(web).toFixed(2)} frames/s median (${web.map((v) => v.toFixed(2)).join(', ')}); ratio ${(median(web) / median(node)).toFixed(2)}`,
    );
    log(`  load average after: ${load()}`);
  } else log('browser vs Node: skipped (needs /usr/bin/chromium and ../shared/data/davis)');
  if (spawnSync('redis-server', ['--version']).status === 0) {
    for (const n of [1, 2]) {
      const t: number[] = [];
      for (let r = 0; r < runs; r++) t.push(await throughput(n));
      log(
        `throughput, ${jobs} jobs (30 frames 320x240 bilateral each), ${n} worker(s): ${median(t).toFixed(1)} jobs/min median (${t.map((v) => v.toFixed(1)).join(', ')}); load ${load()}`,
      );
    }
  } else log('throughput: skipped (needs redis-server)');
  const mem = await serverMemory();
  log(
    `server RSS over 20 jobs (30 frames 320x240 each, in-process queue): start ${mem[0].toFixed(0)} MiB, after job 1 ${mem[1].toFixed(0)}, 5 ${mem[5].toFixed(0)}, 10 ${mem[10].toFixed(0)}, 20 ${mem[20].toFixed(0)} MiB, max ${Math.max(...mem).toFixed(0)} MiB; load ${load()}`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
