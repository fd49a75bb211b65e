import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AbortError, InputError } from '../src/core/errors.js';
import type { IndexedFrame, RgbFrame } from '../src/core/types.js';
import { MissingFfmpegError, openVideoFile, probeVideo } from '../src/video/ffmpeg.js';
import { openSource } from '../src/video/open.js';
import { Mp4Sink } from '../src/video/sinks.js';
import { sharedPath } from './helpers/shared.js';

/** Smooth moving gradient (smooth so 4:2:0 chroma subsampling costs little). */
function gradientFrame(t: number, width: number, height: number): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 2 + t * 3) % 256;
      data[o + 1] = (y * 3 + 40) % 256;
      data[o + 2] = (128 + Math.round(60 * Math.sin((x + y + t * 2) / 12))) % 256;
    }
  }
  return { width, height, data };
}

async function writeVideo(
  path: string,
  n: number,
  width: number,
  height: number,
  opts: { fps?: number; crf?: number; preset?: string } = {},
) {
  const sink = new Mp4Sink(path, { width, height, fps: opts.fps ?? 25, crf: opts.crf ?? 18, preset: opts.preset });
  for (let t = 0; t < n; t++) await sink.write(t, gradientFrame(t, width, height));
  await sink.close();
}

function meanAbsError(a: RgbFrame, b: RgbFrame): number {
  // Compares a's area; b may be padded (odd sizes).
  let s = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      for (let c = 0; c < 3; c++)
        s += Math.abs((a.data[(y * a.width + x) * 3 + c] as number) - (b.data[(y * b.width + x) * 3 + c] as number));
    }
  }
  return s / (a.width * a.height * 3);
}

/** ffmpeg children of this test process, from /proc (Linux). */
function childFfmpegPids(): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
      if (m && m[1] === 'ffmpeg' && Number(m[3]) === process.pid) out.push(Number(d));
    } catch {
      // process vanished while scanning
    }
  }
  return out;
}

let dir: string;
let video: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vprop-ffmpeg-'));
  video = join(dir, 'gradient.mp4');
  await writeVideo(video, 32, 64, 48);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Mp4Sink + probeVideo + openVideoFile', () => {
  test('round trip: probe reports size, fps and frame count; frames match within lossy error', async () => {
    const p = await probeVideo(video);
    assert.equal(p.width, 64);
    assert.equal(p.height, 48);
    assert.equal(p.fps, 25);
    assert.equal(p.frameCount, 32);
    assert.equal(p.codec, 'h264');
    // Only the final name exists: the temporary was renamed away.
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.partial')),
      [],
    );

    const src = await openVideoFile(video);
    assert.equal(src.info.kind, 'video');
    assert.equal(src.info.frameCount, 32);
    let n = 0;
    let worst = 0;
    for await (const f of src) {
      assert.equal(f.index, n);
      assert.equal(f.data.length, 64 * 48 * 3);
      worst = Math.max(worst, meanAbsError(gradientFrame(n, 64, 48), f));
      n++;
    }
    assert.equal(n, 32);
    assert.ok(worst < 6, `mean abs error ${worst} at crf 18`);
    await src.close();
  });

  test('odd sizes are padded to even by repeating the last row and column', async () => {
    const odd = join(dir, 'odd.mp4');
    await writeVideo(odd, 6, 65, 49, { preset: 'ultrafast' });
    const p = await probeVideo(odd);
    assert.deepEqual([p.width, p.height, p.frameCount], [66, 50, 6]);
    const src = await openVideoFile(odd);
    const f = await src.frame(3);
    assert.ok(meanAbsError(gradientFrame(3, 65, 49), f) < 6);
    // Smeared border: the padded column/row repeat their neighbours (up to codec error).
    let d = 0;
    for (let y = 0; y < 49; y++)
      for (let c = 0; c < 3; c++) d += Math.abs((f.data[(y * 66 + 65) * 3 + c] as number) - (f.data[(y * 66 + 64) * 3 + c] as number));
    assert.ok(d / (49 * 3) < 8, `padded column differs from its neighbour by ${d / (49 * 3)}`);
    await src.close();
  });

  test('random access equals sequential decode, in any order', async () => {
    const src = await openVideoFile(video);
    const seq: IndexedFrame[] = [];
    for await (const f of src) seq.push(f);
    const fresh = await openVideoFile(video, { cacheSize: 2 });
    for (const i of [20, 5, 31, 0, 17, 16, 12]) {
      const f = await fresh.frame(i);
      assert.equal(f.index, i);
      assert.ok(Buffer.from(f.data).equals(Buffer.from((seq[i] as IndexedFrame).data)), `frame ${i} differs from sequential decode`);
    }
    const range: number[] = [];
    for await (const f of fresh.frames(10, 15)) {
      assert.ok(Buffer.from(f.data).equals(Buffer.from((seq[f.index] as IndexedFrame).data)));
      range.push(f.index);
    }
    assert.deepEqual(range, [10, 11, 12, 13, 14]);
    await assert.rejects(fresh.frame(32), InputError);
    await Promise.all([src.close(), fresh.close()]);
  });

  test('breaking out of iteration kills ffmpeg', async () => {
    const src = await openVideoFile(video);
    let pid: number | undefined;
    let n = 0;
    for await (const f of src) {
      assert.equal(f.index, n);
      pid = src.decoderPids[0];
      if (++n === 3) break;
    }
    assert.ok(pid !== undefined);
    assert.deepEqual(src.decoderPids, []);
    assert.throws(() => process.kill(pid as number, 0), { code: 'ESRCH' });
    assert.deepEqual(childFfmpegPids(), []);
    // The random-access decoder is killed by close().
    await src.frame(4);
    assert.equal(src.decoderPids.length, 1);
    await src.close();
    assert.deepEqual(src.decoderPids, []);
    assert.deepEqual(childFfmpegPids(), []);
  });

  test('AbortSignal stops iteration and the decoder', async () => {
    const ac = new AbortController();
    const src = await openVideoFile(video, { signal: ac.signal });
    let n = 0;
    await assert.rejects(async () => {
      for await (const _ of src) if (++n === 2) ac.abort();
    }, AbortError);
    assert.equal(n, 2);
    assert.deepEqual(src.decoderPids, []);
    assert.deepEqual(childFfmpegPids(), []);
  });

  test('containers without a frame count in the header are counted (mkv)', async () => {
    const mkv = join(dir, 'clip.mkv');
    await writeVideo(mkv, 9, 32, 16, { fps: 12, preset: 'ultrafast' });
    const p = await probeVideo(mkv);
    assert.equal(p.frameCountCounted, true);
    assert.deepEqual([p.frameCount, p.width, p.height, p.fps], [9, 32, 16, 12]);
    const src = await openSource(mkv);
    let n = 0;
    for await (const _ of src) n++;
    assert.equal(n, 9);
    await src.close();
  });
});

describe('bad input', () => {
  test('corrupt video file -> InputError naming the file', async () => {
    const bad = join(dir, 'corrupt.mp4');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 251;
    await writeFile(bad, bytes);
    await assert.rejects(openVideoFile(bad), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.file, bad);
      assert.match(err.problem, /not a readable video/);
      return true;
    });
    await assert.rejects(openSource(bad), InputError);
  });

  test('nonexistent file -> InputError', async () => {
    const missing = join(dir, 'nope.mp4');
    await assert.rejects(
      openVideoFile(missing),
      (err: unknown) => err instanceof InputError && err.file === missing && /does not exist/.test(err.problem),
    );
    await assert.rejects(openSource(missing), InputError);
  });

  test('missing ffmpeg binaries -> error that says how to install ffmpeg', async () => {
    await assert.rejects(probeVideo(video, { ffprobePath: '/nonexistent/ffprobe' }), (err: unknown) => {
      assert.ok(err instanceof MissingFfmpegError);
      assert.match(err.message, /apt-get install ffmpeg/);
      return true;
    });
    const src = await openVideoFile(video, { ffmpegPath: '/nonexistent/ffmpeg' });
    await assert.rejects(src.frame(0), MissingFfmpegError);
    await src.close();
    const sink = new Mp4Sink(join(dir, 'never.mp4'), { width: 8, height: 8, fps: 5, ffmpegPath: '/nonexistent/ffmpeg' });
    await assert.rejects(sink.write(0, gradientFrame(0, 8, 8)), MissingFfmpegError);
    await sink.abort();
    assert.equal(existsSync(join(dir, 'never.mp4')), false);
  });
});

const vtest = sharedPath('video/vtest.avi');
describe('vtest.avi (OpenCV sample, msmpeg4v3 AVI)', () => {
  test('probe: 768x576, 10 fps, 795 frames', { skip: vtest.skip }, async () => {
    const p = await probeVideo(vtest.path);
    assert.deepEqual([p.width, p.height, p.fps, p.frameCount], [768, 576, 10, 795]);
  });

  test('frame(100) equals the 101st frame of a sequential decode, byte for byte', { skip: vtest.skip }, async () => {
    const src = await openVideoFile(vtest.path);
    let seq100: Uint8Array | undefined;
    for await (const f of src.frames(0, 101)) if (f.index === 100) seq100 = f.data;
    const other = await openVideoFile(vtest.path);
    // vtest's key-frames are 0, 250, 500, 750: frame 100 is mid-GOP, so this exercises the seek.
    const f = await other.frame(100);
    assert.ok(seq100 !== undefined);
    assert.ok(Buffer.from(f.data).equals(Buffer.from(seq100)));
    await Promise.all([src.close(), other.close()]);
  });
});

describe('bounded memory', () => {
  test('streaming a 2,000-frame video does not grow memory', async () => {
    const long = join(dir, 'long.mp4');
    const w = 64;
    const h = 48;
    // Generated frame by frame into the encoder: the video never exists in memory.
    const sink = new Mp4Sink(long, { width: w, height: h, fps: 30, crf: 28, preset: 'ultrafast' });
    for (let t = 0; t < 2000; t++) await sink.write(t, gradientFrame(t, w, h));
    await sink.close();
    const src = await openVideoFile(long);
    assert.equal(src.info.frameCount, 2000);
    let rss200 = 0;
    let n = 0;
    let checksum = 0;
    for await (const f of src) {
      checksum += f.data[0] as number;
      n++;
      if (n === 200) rss200 = process.memoryUsage().rss;
    }
    const growth = process.memoryUsage().rss - rss200;
    assert.equal(n, 2000);
    assert.ok(checksum > 0);
    assert.ok(growth < 30 * 2 ** 20, `rss grew ${(growth / 2 ** 20).toFixed(1)} MiB between frame 200 and 2000`);
    await src.close();
  });
});
