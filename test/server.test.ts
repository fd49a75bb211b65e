/**
 * `vprop serve` with its default in-process queue, over real HTTP on loopback: the whole flow
 * (upload, key-frame, job, Server-Sent Events, frame / zip / mp4 downloads) against the library's
 * own result for the same input, corrections that recompute only what they affect, cancel and
 * delete, and hostile input: malformed and oversize uploads, traversal attempts in every path,
 * query and body parameter and in zip entry names — each a clear 4xx, with nothing written outside
 * the data folder.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { srgbToLinear } from '../src/formats/color.js';
import { decodeExr, encodeExr } from '../src/formats/exr.js';
import { decodeLabelPng, encodePalettePng, encodeRgbPng } from '../src/formats/png.js';
import { decodeRle } from '../src/formats/rle.js';
import { createServer } from '../src/server/app.js';
import { InProcessQueue } from '../src/server/queue.js';
import { Workspace } from '../src/server/workspace.js';
import { openVideo } from '../src/session/open.js';
import { createScene } from '../src/synth/index.js';
import { type Clip, call, fetchZip, followEvents, makeClip, submitJob, waitForJob } from './helpers/server.js';
import { projectRoot } from './helpers/shared.js';

const root = mkdtempSync(join(tmpdir(), 'vprop-server-'));
const data = join(root, 'data');
let base = '';
let app: Awaited<ReturnType<typeof createServer>>;
let clip: Clip;
let long: Clip;
let mp4: Uint8Array;

before(async () => {
  clip = await makeClip(join(root, 'clips'), { frames: 30 });
  long = await makeClip(join(root, 'clips'), { frames: 240 });
  mp4 = new Uint8Array(readFileSync(clip.mp4));
  app = await createServer({ data, queue: new InProcessQueue(new Workspace(data)), maxUploadBytes: 4 * 1024 * 1024, maxFrames: 300 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
after(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The library's own result for the clip: what the service must return. */
async function libraryMasks(c: Clip, keyframes: Array<[number, Uint8Array]>): Promise<Map<number, Uint8Array>> {
  const session = await openVideo(c.mp4, { engine: 'bilateral' });
  try {
    for (const [i, png] of keyframes) session.addKeyframe(i, { mask: decodeLabelPng(png, `kf${i}`) });
    const out = new Map<number, Uint8Array>();
    for await (const r of session.propagate()) out.set(r.index, new Uint8Array((r.labels as { data: Uint8Array }).data));
    return out;
  } finally {
    await session.dispose();
  }
}

describe('vprop serve, in-process queue', () => {
  let jobId = '';

  test('upload, key-frame, job: events stream every frame, and the results are the library’s', async () => {
    jobId = await submitJob(base, clip, mp4);
    const events = await followEvents(base, jobId);
    assert.equal(events[0].event, 'status', 'the stream opens with the current status');
    const frames = events.filter((e) => e.event === 'frame').map((e) => e.data.index);
    assert.deepEqual(
      [...frames].sort((a, b) => a - b),
      Array.from({ length: clip.frames }, (_, i) => i),
    );
    assert.ok(events.some((e) => e.event === 'progress'));
    assert.deepEqual(events.at(-1), { event: 'state', data: { type: 'state', state: 'done' } });

    const zip = await fetchZip(base, jobId);
    const expected = await libraryMasks(clip, [[0, clip.keyframePng]]);
    const coco = JSON.parse(new TextDecoder().decode(zip['coco.json']));
    for (let i = 0; i < clip.frames; i++) {
      const name = `masks/${String(i).padStart(5, '0')}.png`;
      const labels = decodeLabelPng(zip[name], name);
      assert.deepEqual(labels.data, expected.get(i), `frame ${i} equals the library's`);
      // The single-frame download is the same file.
      const r = await fetch(`${base}/api/jobs/${jobId}/frames/${i}`);
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), zip[name]);
      // Per-object PNGs and COCO RLE say the same as the palette PNG.
      for (const id of [1, 2]) {
        const obj = decodeLabelPng(zip[`objects/${String(id - 1).padStart(3, '0')}/${String(i).padStart(5, '0')}.png`], 'obj');
        const inside = labels.data.map((v) => (v === id ? 1 : 0));
        assert.deepEqual(obj.data, inside, `object ${id} frame ${i}`);
        const ann = coco.annotations.find((a: { image_id: number; object_id: number }) => a.image_id === i && a.object_id === id);
        if (inside.some((v) => v)) assert.deepEqual(decodeRle(ann.segmentation), inside);
        else assert.equal(ann, undefined);
      }
    }
    const video = await fetch(`${base}/api/jobs/${jobId}/video`);
    assert.equal(video.status, 200);
    const bytes = new Uint8Array(await video.arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes.subarray(4, 8)), 'ftyp');
  });

  test('a correction recomputes only the frames it affects (basedOn), and the rest stay identical', async () => {
    const first = await call(base, 'GET', `/api/jobs/${jobId}`);
    const videoId = first.json.spec.videoId;
    const scene = createScene({ seed: 3, width: clip.width, height: clip.height, frames: clip.frames, objects: 2 });
    const put = (i: number) =>
      call(
        base,
        'PUT',
        `/api/videos/${videoId}/keyframes/${i}?task=mask`,
        new Blob([encodePalettePng(scene.render(i).labels)]),
        'image/png',
      );
    assert.equal((await put(15)).status, 201);
    const a = await call(base, 'POST', '/api/jobs', JSON.stringify({ videoId, engine: 'bilateral' }), 'application/json');
    const jobA = (await waitForJob(base, a.json.id)).status;
    assert.equal(jobA.state, 'done');
    assert.equal((await put(25)).status, 201);
    const b = await call(
      base,
      'POST',
      '/api/jobs',
      JSON.stringify({ videoId, engine: 'bilateral', basedOn: a.json.id }),
      'application/json',
    );
    const jobB = (await waitForJob(base, b.json.id)).status;
    assert.equal(jobB.state, 'done');
    // Frames 1..14 lie between key-frames 0 and 15, which the new key-frame at 25 does not touch.
    assert.deepEqual(
      jobB.computedFrames.filter((i: number) => i < 15),
      [],
    );
    for (let i = 16; i < 25; i++) assert.ok(jobB.computedFrames.includes(i), `frame ${i} is recomputed`);
    const za = await fetchZip(base, a.json.id);
    const zb = await fetchZip(base, b.json.id);
    for (let i = 0; i <= 15; i++) {
      const n = `masks/${String(i).padStart(5, '0')}.png`;
      assert.deepEqual(zb[n], za[n], `frame ${i} unchanged`);
    }
    const expected = await libraryMasks(clip, [
      [0, clip.keyframePng],
      [15, encodePalettePng(scene.render(15).labels)],
      [25, encodePalettePng(scene.render(25).labels)],
    ]);
    for (let i = 0; i < clip.frames; i++) {
      const n = `masks/${String(i).padStart(5, '0')}.png`;
      assert.deepEqual(decodeLabelPng(zb[n], n).data, expected.get(i), `frame ${i} equals a fresh run's`);
    }
  });

  test('HDR: an OpenEXR key-frame gives a job of EXR frames', async () => {
    const v = await call(base, 'POST', '/api/videos', new Blob([mp4]), 'video/mp4');
    const frame = createScene({ seed: 3, width: clip.width, height: clip.height, frames: clip.frames, objects: 2 }).render(0).rgb;
    const n = clip.width * clip.height;
    const radiance = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) radiance[c * n + i] = 4 * srgbToLinear(frame.data[3 * i + c] / 255);
    const exr = encodeExr({ width: clip.width, height: clip.height, channels: ['R', 'G', 'B'], data: radiance });
    const png = await call(base, 'PUT', `/api/videos/${v.json.id}/keyframes/0?task=hdr`, new Blob([clip.keyframePng]), 'image/png');
    assert.equal(png.status, 415, 'an HDR key-frame must be EXR or .hdr');
    const put = await call(base, 'PUT', `/api/videos/${v.json.id}/keyframes/0?task=hdr`, new Blob([exr]), 'image/x-exr');
    assert.equal(put.status, 201, JSON.stringify(put.json));
    const job = await call(
      base,
      'POST',
      '/api/jobs',
      JSON.stringify({ videoId: v.json.id, task: 'hdr', engine: 'bilateral', to: 4 }),
      'application/json',
    );
    assert.equal((await waitForJob(base, job.json.id)).status.state, 'done');
    const zip = await fetchZip(base, job.json.id);
    assert.deepEqual(
      Object.keys(zip).sort(),
      [0, 1, 2, 3, 4].map((i) => `exr/${String(i).padStart(5, '0')}.exr`),
    );
    const key = decodeExr(zip['exr/00000.exr'], 'exr/00000.exr');
    const r = key.data.subarray(key.channels.indexOf('R') * n, (key.channels.indexOf('R') + 1) * n);
    for (let i = 0; i < n; i += 97)
      assert.ok(Math.abs(r[i] - radiance[i]) <= 0.01 * radiance[i] + 1e-3, `key-frame radiance kept at pixel ${i}`);
    const later = decodeExr(zip['exr/00004.exr'], 'exr/00004.exr');
    assert.equal(later.width, clip.width);
    assert.equal((await call(base, 'GET', `/api/jobs/${job.json.id}/video`)).status, 404, 'HDR jobs write no video');
  });

  test('cancel stops a running job; delete removes its workspace', async () => {
    const id = await submitJob(base, long, new Uint8Array(readFileSync(long.mp4)));
    for (let i = 0; i < 600; i++) {
      const s = (await call(base, 'GET', `/api/jobs/${id}`)).json.status;
      if (s.written >= 2) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const c = await call(base, 'POST', `/api/jobs/${id}/cancel`);
    assert.ok(c.status === 202 || c.status === 200, JSON.stringify(c.json));
    const final = await waitForJob(base, id);
    assert.equal(final.status.state, 'cancelled');
    assert.ok(final.status.written < long.frames, 'it stopped before the end');
    assert.equal((await call(base, 'GET', `/api/jobs/${id}/result.zip`)).status, 409);
    assert.equal((await call(base, 'DELETE', `/api/jobs/${id}`)).status, 204);
    assert.equal(existsSync(join(data, 'jobs', id)), false);
    assert.equal((await call(base, 'GET', `/api/jobs/${id}`)).status, 404);
  });
});

describe('vprop serve refuses bad input with a clear 4xx and writes nothing outside its data folder', () => {
  let videoId = '';
  let jobId = '';
  const outside = () => readdirSync(root).sort();
  let before0: string[] = [];

  before(async () => {
    before0 = outside();
    const v = await call(base, 'POST', '/api/videos', new Blob([mp4]), 'video/mp4');
    videoId = v.json.id;
    await call(base, 'PUT', `/api/videos/${videoId}/keyframes/0`, new Blob([clip.keyframePng]), 'image/png');
    jobId = (await call(base, 'POST', '/api/jobs', JSON.stringify({ videoId, engine: 'copy' }), 'application/json')).json.id;
    await waitForJob(base, jobId);
  });

  test('malformed uploads', async () => {
    const garbage = await call(base, 'POST', '/api/videos', new Blob([new Uint8Array(5000).fill(7)]), 'video/mp4');
    assert.equal(garbage.status, 415);
    assert.match(garbage.json.error, /not an mp4/);
    const fake = new Uint8Array(5000).fill(1);
    fake.set(new TextEncoder().encode('\0\0\0\x20ftypisom'), 0);
    const bad = await call(base, 'POST', '/api/videos', new Blob([fake]), 'video/mp4');
    assert.equal(bad.status, 422);
    assert.match(bad.json.error, /could not be read as a video/);
    assert.doesNotMatch(bad.json.error, new RegExp(root), 'no server path in the message');
    assert.equal((await call(base, 'POST', '/api/videos', new Blob([]), 'video/mp4')).status, 400);
    const truncated = await call(base, 'POST', '/api/videos', new Blob([mp4.subarray(0, 3000)]), 'video/mp4');
    assert.equal(truncated.status, 422);
    const txt = zipSync({ 'notes.txt': new TextEncoder().encode('hello') });
    const z = await call(base, 'POST', '/api/videos', new Blob([txt]), 'application/zip');
    assert.equal(z.status, 415);
    assert.match(z.json.error, /notes\.txt.*not a \.png or \.jpg/);
  });

  test('oversize uploads: declared and streamed without a length', async () => {
    const big = new Uint8Array(5 * 1024 * 1024);
    big.set(mp4);
    const declared = await call(base, 'POST', '/api/videos', new Blob([big]), 'video/mp4');
    assert.equal(declared.status, 413);
    assert.match(declared.json.error, /limit/);
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 5; i++) c.enqueue(big.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024));
        c.close();
      },
    });
    const r = await fetch(`${base}/api/videos`, {
      method: 'POST',
      body: stream,
      headers: { 'content-type': 'video/mp4' },
      duplex: 'half',
    } as RequestInit);
    assert.equal(r.status, 413);
    assert.deepEqual(readdirSync(join(data, 'uploads')), [], 'no partial upload is left');
    const tooManyFrames = await makeClip(join(root, 'clips'), { frames: 301, width: 32, height: 32 });
    const tm = await call(base, 'POST', '/api/videos', new Blob([readFileSync(tooManyFrames.mp4)]), 'video/mp4');
    assert.equal(tm.status, 413);
    assert.match(tm.json.error, /301 frames; the limit is 300/);
  });

  test('traversal in every path, query, body and zip-entry name', async () => {
    const cases: Array<[string, string, RequestInit['body'] | undefined, string | undefined]> = [
      ['GET', '/api/videos/..%2F..%2Fetc', undefined, undefined],
      ['GET', '/api/videos/../../etc/passwd', undefined, undefined],
      ['DELETE', '/api/videos/..%2Fjobs', undefined, undefined],
      ['PUT', `/api/videos/..%2F${videoId}/keyframes/0`, new Blob([clip.keyframePng]), 'image/png'],
      ['PUT', `/api/videos/${videoId}/keyframes/..%2F..%2Fx`, new Blob([clip.keyframePng]), 'image/png'],
      ['PUT', `/api/videos/${videoId}/keyframes/-1`, new Blob([clip.keyframePng]), 'image/png'],
      ['PUT', `/api/videos/${videoId}/keyframes/0?task=..%2F..%2Fx`, new Blob([clip.keyframePng]), 'image/png'],
      ['PUT', `/api/videos/${videoId}/keyframes/0?mode=..%2Fx`, new Blob([clip.keyframePng]), 'image/png'],
      ['DELETE', `/api/videos/${videoId}/keyframes/0?task=..%2Fmask`, undefined, undefined],
      ['GET', '/api/jobs/..%2F..%2Fvideos', undefined, undefined],
      ['GET', `/api/jobs/${jobId}/frames/..%2Fspec.json`, undefined, undefined],
      ['GET', `/api/jobs/${jobId}/frames/1e3`, undefined, undefined],
      ['GET', '/api/jobs/..%2Fx/result.zip', undefined, undefined],
      ['GET', '/api/jobs/..%2Fx/video', undefined, undefined],
      ['GET', '/api/jobs/..%2Fx/events', undefined, undefined],
      ['POST', '/api/jobs/..%2Fx/cancel', undefined, undefined],
      ['DELETE', '/api/jobs/..%2F..', undefined, undefined],
      ['POST', '/api/jobs', JSON.stringify({ videoId: '../videos' }), 'application/json'],
      ['POST', '/api/jobs', JSON.stringify({ videoId, basedOn: '../../etc' }), 'application/json'],
      ['POST', '/api/jobs', JSON.stringify({ videoId, engine: '../bilateral' }), 'application/json'],
      ['POST', '/api/jobs', JSON.stringify({ videoId, task: '../mask' }), 'application/json'],
      ['POST', '/api/jobs', JSON.stringify({ videoId, engine: 'flowgru', engineOptions: { perFrameDir: '/etc' } }), 'application/json'],
      ['POST', '/api/jobs', JSON.stringify({ videoId, out: '/tmp/x' }), 'application/json'],
    ];
    for (const [method, path, body, type] of cases) {
      const r = await call(base, method, path, body, type);
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status}`);
      assert.equal(typeof r.json?.error, 'string', `${method} ${path} says why`);
    }
    // Zip entry names only order frames: a "../" name is stored as frames/00000.png, not followed.
    const frame = encodeRgbPng({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) });
    const evil = zipSync({ '../../evil-1.png': frame, '/abs/evil-2.png': frame });
    const up = await call(base, 'POST', '/api/videos', new Blob([evil]), 'application/zip');
    assert.equal(up.status, 201, JSON.stringify(up.json));
    assert.deepEqual(readdirSync(join(data, 'videos', up.json.id, 'frames')), ['00000.png', '00001.png']);
    assert.deepEqual(outside(), before0, 'nothing new beside the data folder');
    assert.equal(existsSync('/abs/evil-2.png'), false);
  });

  test('key-frames are checked as a job reads them', async () => {
    const wrong = encodePalettePng({ width: 20, height: 20, data: new Uint8Array(400).fill(1) });
    const r = await call(base, 'PUT', `/api/videos/${videoId}/keyframes/3`, new Blob([wrong]), 'image/png');
    assert.equal(r.status >= 400 && r.status < 500, true);
    assert.match(r.json.error, /key-frame 3/);
    const empty = encodePalettePng({ width: clip.width, height: clip.height, data: new Uint8Array(clip.width * clip.height) });
    const e = await call(base, 'PUT', `/api/videos/${videoId}/keyframes/3`, new Blob([empty]), 'image/png');
    assert.equal(e.status, 422);
    assert.match(e.json.error, /no object/);
    const jpeg = await call(
      base,
      'PUT',
      `/api/videos/${videoId}/keyframes/3`,
      new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2])]),
      'image/jpeg',
    );
    assert.equal(jpeg.status, 415);
    const outOfRange = await call(
      base,
      'PUT',
      `/api/videos/${videoId}/keyframes/${clip.frames}`,
      new Blob([clip.keyframePng]),
      'image/png',
    );
    assert.equal(outOfRange.status, 400);
    assert.match(outOfRange.json.error, /outside the video/);
  });
});

describe('restart', () => {
  test('jobs a stopped server left running resume from their cache when it starts again', async () => {
    const dir = join(root, 'data-restart');
    mkdirSync(dir);
    const first = await createServer({ data: dir, queue: new InProcessQueue(new Workspace(dir)) });
    await first.listen({ host: '127.0.0.1', port: 0 });
    const b1 = `http://127.0.0.1:${(first.server.address() as { port: number }).port}`;
    const id = await submitJob(b1, long, new Uint8Array(readFileSync(long.mp4)));
    for (let i = 0; i < 600; i++) {
      const s = (await call(b1, 'GET', `/api/jobs/${id}`)).json.status;
      if (s.written >= 20) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await first.close(); // interrupts the running job
    const left = JSON.parse(readFileSync(join(dir, 'jobs', id, 'status.json'), 'utf8'));
    assert.equal(left.state, 'running');
    assert.ok(left.written < long.frames, 'it was interrupted');
    const second = await createServer({ data: dir, queue: new InProcessQueue(new Workspace(dir)) });
    try {
      await second.listen({ host: '127.0.0.1', port: 0 });
      const b2 = `http://127.0.0.1:${(second.server.address() as { port: number }).port}`;
      const final = await waitForJob(b2, id);
      assert.equal(final.status.state, 'done');
      assert.ok(final.status.computed <= long.frames - 20, `resumed from the cache (computed ${final.status.computed})`);
      assert.equal(final.status.written, long.frames);
    } finally {
      await second.close();
    }
  });
});

describe('access', () => {
  test('a token, when set, is required on every API call', async () => {
    const dir = join(root, 'data-token');
    mkdirSync(dir);
    const token = 'a-long-enough-secret-0123';
    const s = await createServer({ data: dir, queue: new InProcessQueue(new Workspace(dir)), token });
    try {
      await s.listen({ host: '127.0.0.1', port: 0 });
      const b = `http://127.0.0.1:${(s.server.address() as { port: number }).port}`;
      assert.equal((await fetch(`${b}/api/health`)).status, 200);
      assert.equal((await fetch(`${b}/api/jobs`)).status, 401);
      assert.equal((await fetch(`${b}/api/jobs`, { headers: { authorization: 'Bearer wrong-but-same-length-xx' } })).status, 401);
      assert.equal((await fetch(`${b}/api/jobs`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await fetch(`${b}/api/jobs?token=${token}`)).status, 200);
    } finally {
      await s.close();
    }
  });

  test('vprop serve refuses a non-loopback address without a token', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'test', 'helpers', 'run-cli.ts'), 'serve', '--host', '0.0.0.0'],
      {
        cwd: projectRoot,
        encoding: 'utf8',
        env: { ...process.env, VPROP_TOKEN: '' },
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--host: serving on 0\.0\.0\.0 .*--token/);
  });
});
