/**
 * `vprop serve --queue redis://…` with real parts: Debian's redis-server started by the test on a
 * free loopback port, `vprop worker` processes spawned as a user would, the server over HTTP.
 *
 * - Load: 20 jobs from 5 concurrent clients on 2 workers: every job completes once, with the
 *   same result as every other (same input), none lost, none run twice.
 * - `kill -9` of the worker running a job: another worker takes it over (BullMQ's stalled-job
 *   recovery) and resumes from the job's cache; the output is byte-identical to an uninterrupted
 *   run of the same job.
 * - Redis stopped and restarted under running jobs: they all complete.
 *
 * Skipped with a message when redis-server is not installed (`scripts/setup.sh --test` installs it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer } from '../src/server/app.js';
import { RedisQueue } from '../src/server/queue.js';
import {
  type Clip,
  call,
  fetchZip,
  followEvents,
  freePort,
  makeClip,
  redisAvailable,
  submitJob,
  TestRedis,
  waitForJob,
} from './helpers/server.js';
import { projectRoot } from './helpers/shared.js';

const skip = redisAvailable ? false : 'needs redis-server (Debian package redis-server; scripts/setup.sh --test installs it)';
const cli = join(projectRoot, 'test', 'helpers', 'run-cli.ts');

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly log: string[];
}

describe('vprop serve with BullMQ on Redis and vprop worker processes', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'vprop-redis-'));
  const data = join(root, 'data');
  let redis: TestRedis;
  let queue: RedisQueue;
  let app: Awaited<ReturnType<typeof createServer>>;
  let base = '';
  let clip: Clip;
  let long: Clip;
  const workers: WorkerProcess[] = [];

  function startWorker(): WorkerProcess {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', cli, 'worker', '--queue', redis.url, '--data', data, '--lock-ms', '3000', '--stalled-ms', '1000'],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const w: WorkerProcess = { child, log: [] };
    let rest = '';
    const onData = (b: Buffer) => {
      rest += b.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      w.log.push(...lines);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    workers.push(w);
    return w;
  }

  async function waitReady(w: WorkerProcess): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!w.log.some((l) => l.includes('waiting for jobs'))) {
      if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.log.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`worker not ready: ${w.log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    redis = new TestRedis(await freePort(), join(root, 'redis'));
    await redis.start();
    clip = await makeClip(join(root, 'clips'), { frames: 20 });
    long = await makeClip(join(root, 'clips'), { frames: 200, width: 192, height: 144 });
    queue = new RedisQueue(redis.url);
    await queue.ready();
    app = await createServer({ data, queue });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const ws = [startWorker(), startWorker()];
    await Promise.all(ws.map(waitReady));
  });

  after(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await app?.close();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('load: 20 concurrent jobs from 5 clients all complete once, none lost or duplicated', async () => {
    const bytes = new Uint8Array(readFileSync(clip.mp4));
    const client = async () => {
      const ids: string[] = [];
      for (let k = 0; k < 4; k++) ids.push(await submitJob(base, clip, bytes));
      const finals = await Promise.all(ids.map((id) => followEvents(base, id)));
      for (const ev of finals) assert.equal(ev.at(-1)?.data.state, 'done', JSON.stringify(ev.at(-1)));
      return ids;
    };
    const ids = (await Promise.all([client(), client(), client(), client(), client()])).flat();
    assert.equal(new Set(ids).size, 20);
    const listed = (await call(base, 'GET', '/api/jobs')).json.filter((j: { id: string }) => ids.includes(j.id));
    assert.equal(listed.length, 20);
    assert.ok(listed.every((j: { state: string }) => j.state === 'done'));
    // Same input, same output, whichever worker ran it.
    const reference = await fetchZip(base, ids[0]);
    for (const id of ids) {
      const zip = await fetchZip(base, id);
      for (let i = 0; i < clip.frames; i++) {
        const n = `masks/${String(i).padStart(5, '0')}.png`;
        assert.deepEqual(zip[n], reference[n], `job ${id} ${n}`);
      }
      const status = (await call(base, 'GET', `/api/jobs/${id}`)).json.status;
      assert.equal(status.attempt, 1, `job ${id} ran once`);
    }
    // Each job was finished exactly once, and both workers took part.
    const doneLines = workers.flatMap((w) => w.log.filter((l) => / done \(/.test(l)));
    for (const id of ids) assert.equal(doneLines.filter((l) => l.includes(id)).length, 1, `job ${id} finished once`);
    assert.ok(
      workers.every((w) => w.log.some((l) => / done \(/.test(l))),
      'both workers ran jobs',
    );
    const counts = await queue.counts();
    assert.equal(counts.failed, 0);
    assert.equal(counts.waiting + counts.active, 0);
  });

  test('kill -9 of the worker running a job: another worker finishes it with byte-identical output', async () => {
    const bytes = new Uint8Array(readFileSync(long.mp4));
    const id = await submitJob(base, long, bytes);
    let victim: string | undefined;
    let writtenBeforeKill = 0;
    for (let i = 0; i < 1200 && !victim; i++) {
      const s = (await call(base, 'GET', `/api/jobs/${id}`)).json.status;
      if (s.state === 'running' && s.written >= 10) {
        victim = s.worker;
        writtenBeforeKill = s.written;
      } else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(victim, 'the job got going');
    const pid = Number((victim as string).split(':').pop());
    const killed = workers.find((w) => w.child.pid === pid);
    assert.ok(killed, `worker ${victim} is one of ours`);
    process.kill(pid, 'SIGKILL');
    await waitReady(startWorker()); // keep two workers
    const final = await waitForJob(base, id, 240_000);
    assert.equal(final.status.state, 'done');
    assert.notEqual(final.status.worker, victim, 'another worker finished it');
    // Every frame written before the kill (the key-frame aside) was cached first: none is computed again.
    const nonKey = long.frames - 1;
    assert.ok(
      final.status.computed <= nonKey - (writtenBeforeKill - 1),
      `it resumed from the cache (computed ${final.status.computed} of ${nonKey}; ${writtenBeforeKill} frames were written before the kill)`,
    );

    // The same job again, uninterrupted: every output file has the same bytes.
    const again = await call(
      base,
      'POST',
      '/api/jobs',
      JSON.stringify({ videoId: final.spec.videoId, engine: 'bilateral' }),
      'application/json',
    );
    assert.equal((await waitForJob(base, again.json.id, 240_000)).status.state, 'done');
    const a = tree(join(data, 'jobs', id, 'out'));
    const b = tree(join(data, 'jobs', again.json.id, 'out'));
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    assert.ok(Object.keys(a).includes('overlay.mp4') && Object.keys(a).length === long.frames + 1);
    for (const name of Object.keys(a)) assert.ok(a[name].equals(b[name]), `${name} is byte-identical`);
  });

  test('a worker stopped with SIGTERM hands its job back; another finishes it without spending an attempt', async () => {
    const id = await submitJob(base, long, new Uint8Array(readFileSync(long.mp4)));
    let runner: string | undefined;
    for (let i = 0; i < 1200 && !runner; i++) {
      const s = (await call(base, 'GET', `/api/jobs/${id}`)).json.status;
      if (s.state === 'running' && s.written >= 5) runner = s.worker;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(runner, 'the job got going');
    const w = workers.find((x) => x.child.pid === Number((runner as string).split(':').pop()));
    assert.ok(w);
    const exited = new Promise<number | null>((r) => w.child.once('exit', (code) => r(code)));
    w.child.kill('SIGTERM');
    assert.equal(await exited, 0, 'the worker exits cleanly');
    assert.ok(w.log.some((l) => l.includes(`job ${id} handed back`)));
    await waitReady(startWorker());
    const final = await waitForJob(base, id, 240_000);
    assert.equal(final.status.state, 'done');
    assert.equal(final.status.attempt, 1, 'no attempt spent');
    assert.notEqual(final.status.worker, runner);
  });

  test('a job that keeps failing is retried, then failed with its reason', async () => {
    await queue.pause();
    const id = await submitJob(base, clip, new Uint8Array(readFileSync(clip.mp4)));
    // Damage the job's own copy of its input before any worker sees it: every attempt fails.
    const input = join(data, 'jobs', id, 'input.mp4');
    rmSync(input);
    writeFileSync(input, 'not a video any more');
    await queue.resume();
    const final = await waitForJob(base, id, 120_000);
    assert.equal(final.status.state, 'failed');
    assert.equal(final.status.attempt, 3, 'three attempts');
    assert.match(final.status.error, /input\.mp4/);
    const attempts = workers.flatMap((w) => w.log.filter((l) => l.includes(id) && l.includes('attempt')));
    assert.equal(attempts.length, 3, attempts.join('\n'));
  });

  test('Redis stopped and restarted mid-run: the jobs continue and complete', async () => {
    const bytes = new Uint8Array(readFileSync(clip.mp4));
    const ids: string[] = [];
    for (let k = 0; k < 6; k++) ids.push(await submitJob(base, clip, bytes));
    for (let i = 0; i < 400; i++) {
      const s = (await call(base, 'GET', `/api/jobs/${ids[0]}`)).json.status;
      if (s.state !== 'queued') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();
    const reference = await fetchZip(base, (await call(base, 'GET', '/api/jobs')).json[0].id);
    for (const id of ids) {
      const final = await waitForJob(base, id, 240_000);
      assert.equal(final.status.state, 'done', `job ${id}: ${JSON.stringify(final.status)}`);
      const zip = await fetchZip(base, id);
      for (let i = 0; i < clip.frames; i++) {
        const n = `masks/${String(i).padStart(5, '0')}.png`;
        assert.deepEqual(zip[n], reference[n]);
      }
    }
  });
});

function tree(dir: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p);
    }
  };
  walk(dir);
  return out;
}
