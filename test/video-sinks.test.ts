import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LabelImage, RgbFrame } from '../src/core/types.js';
import { readExr } from '../src/formats/exr.js';
import { DAVIS_PALETTE, readLabelPng } from '../src/formats/png.js';
import { probeVideo } from '../src/video/ffmpeg.js';
import { decodeImageRgb } from '../src/video/folder.js';
import { ExrSequenceSink, FramePattern, Mp4Sink, overlayMask, PaletteFolderSink, RgbFolderSink } from '../src/video/sinks.js';

function labels(t: number, w = 12, h = 8): LabelImage {
  const data = new Uint8Array(w * h);
  for (let i = 0; i < data.length; i++) data[i] = (i + t) % 4;
  return { width: w, height: h, data };
}

function rgb(t: number, w = 12, h = 8): RgbFrame {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 5 + t * 40) % 256;
  return { width: w, height: h, data };
}

const partials = async (d: string) => (await readdir(d)).filter((n) => n.endsWith('.partial'));

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vprop-sinks-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FramePattern', () => {
  test('formats and parses %05d / %d names exactly', () => {
    const p = new FramePattern('%05d.png');
    assert.equal(p.format(7), '00007.png');
    assert.equal(p.parse('00007.png'), 7);
    assert.equal(p.parse('7.png'), undefined);
    assert.equal(p.parse('00007.png.partial'), undefined);
    const q = new FramePattern('mask_%d.png');
    assert.equal(q.format(12), 'mask_12.png');
    assert.equal(q.parse('mask_12.png'), 12);
    assert.equal(q.parse('mask_012.png'), undefined);
    assert.throws(() => new FramePattern('frame.png'), /exactly one %d/);
    assert.throws(() => new FramePattern('sub/%05d.png'), /file name/);
  });
});

describe('PaletteFolderSink', () => {
  test('writes palette PNGs that read back to the same ids; resumable via existingIndices', async () => {
    const out = join(dir, 'masks');
    const sink = new PaletteFolderSink(out);
    assert.deepEqual(await sink.existingIndices(), new Set());
    await Promise.all([0, 1, 2].map((t) => sink.write(t, labels(t))));
    await sink.close();
    assert.deepEqual((await readdir(out)).sort(), ['00000.png', '00001.png', '00002.png']);
    const back = await readLabelPng(join(out, '00001.png'), { grayscale: 'values' });
    assert.deepEqual(back.data, labels(1).data);

    // A later run sees what is done, ignoring stale temporaries and foreign names.
    await writeFile(join(out, '.00003.png.dead.partial'), 'half');
    await writeFile(join(out, 'notes.png'), 'x');
    const resumed = new PaletteFolderSink(out);
    assert.deepEqual(await resumed.existingIndices(), new Set([0, 1, 2]));
    await resumed.write(3, labels(3));
    await resumed.close();
    assert.deepEqual(await resumed.existingIndices(), new Set([0, 1, 2, 3]));
    await assert.rejects(resumed.write(4, labels(4)), /closed/);
  });

  test('abort during a write leaves neither the frame nor a temporary', async () => {
    const out = join(dir, 'aborted');
    const sink = new PaletteFolderSink(out);
    await sink.write(0, labels(0));
    const pending = sink.write(1, labels(1, 600, 400));
    await sink.abort();
    await assert.rejects(pending, /aborted/);
    assert.deepEqual(await partials(out), []);
    assert.ok(existsSync(join(out, '00000.png')), 'finished frames stay for resuming');
    assert.ok(!existsSync(join(out, '00001.png')));
    await assert.rejects(sink.write(2, labels(2)), /aborted/);
  });
});

describe('RgbFolderSink', () => {
  test('PNG is lossless; JPEG is chosen by extension', async () => {
    const png = new RgbFolderSink(join(dir, 'rgb-png'));
    await png.write(5, rgb(5));
    await png.close();
    const back = await decodeImageRgb(join(dir, 'rgb-png', '00005.png'));
    assert.deepEqual(back.data, rgb(5).data);

    const jpg = new RgbFolderSink(join(dir, 'rgb-jpg'), { pattern: 'frame_%04d.jpg', quality: 90 });
    const flat: RgbFrame = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(120) };
    await jpg.write(2, flat);
    await jpg.close();
    const j = await decodeImageRgb(join(dir, 'rgb-jpg', 'frame_0002.jpg'));
    assert.ok(j.data.every((v) => Math.abs(v - 120) <= 2));
    assert.deepEqual(await partials(join(dir, 'rgb-jpg')), []);
    assert.throws(() => new RgbFolderSink(dir, { pattern: '%05d.tiff' }), /\.png or \.jpg/);
  });
});

describe('ExrSequenceSink', () => {
  test('half-float ZIP EXR frames read back within half precision', async () => {
    const w = 6;
    const h = 4;
    const data = new Float32Array(3 * w * h);
    for (let i = 0; i < data.length; i++) data[i] = 0.01 * 1.7 ** (i % 20); // 0.01 .. ~240: HDR range
    const sink = new ExrSequenceSink(join(dir, 'hdr'));
    await sink.write(0, { width: w, height: h, data });
    await sink.close();
    const back = await readExr(join(dir, 'hdr', '00000.exr'));
    assert.deepEqual(back.channels, ['R', 'G', 'B']);
    assert.equal(back.compression, 'zip');
    for (let i = 0; i < data.length; i++) {
      const rel = Math.abs((back.data[i] as number) - (data[i] as number)) / (data[i] as number);
      assert.ok(rel < 1e-3, `value ${i}: ${back.data[i]} vs ${data[i]}`);
    }
    await assert.rejects(sink.write(1, { width: w, height: h, data: new Float32Array(3) }), /closed/);
    const fresh = new ExrSequenceSink(join(dir, 'hdr'));
    await assert.rejects(fresh.write(1, { width: w, height: h, data: new Float32Array(3) }), /planar RGB/);
  });
});

describe('Mp4Sink', () => {
  test('writes only under a temporary name until close()', async () => {
    const path = join(dir, 'clip.mp4');
    const sink = new Mp4Sink(path, { width: 12, height: 8, fps: 10, preset: 'ultrafast' });
    for (let t = 0; t < 5; t++) await sink.write(t, rgb(t));
    assert.ok(!existsSync(path), 'nothing under the final name while encoding');
    await sink.close();
    assert.ok(existsSync(path));
    assert.ok(!existsSync(sink.tempPath));
    const p = await probeVideo(path);
    assert.deepEqual([p.width, p.height, p.frameCount, p.fps], [12, 8, 5, 10]);
  });

  test('frames out of order or of the wrong size are rejected', async () => {
    const sink = new Mp4Sink(join(dir, 'order.mp4'), { width: 12, height: 8, fps: 10, preset: 'ultrafast' });
    await assert.rejects(sink.write(1, rgb(1)), /expected frame 0, got 1/);
    await assert.rejects(sink.write(0, rgb(0, 10, 8)), /10x8/);
    await sink.abort();
    assert.deepEqual(await partials(dir), []);
  });

  test('abort kills ffmpeg and removes the partial file', async () => {
    const path = join(dir, 'aborted.mp4');
    const sink = new Mp4Sink(path, { width: 12, height: 8, fps: 10, preset: 'ultrafast' });
    await sink.write(0, rgb(0));
    await sink.write(1, rgb(1));
    const pid = sink.pid as number;
    assert.ok(pid > 0);
    await sink.abort();
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    assert.ok(!existsSync(path));
    assert.ok(!existsSync(sink.tempPath));
    await assert.rejects(sink.write(2, rgb(2)), /aborted/);
  });

  test("an encoder failure surfaces ffmpeg's message and leaves no file", async () => {
    const path = join(dir, 'bad-codec.mp4');
    const sink = new Mp4Sink(path, { width: 12, height: 8, fps: 10, codec: 'no-such-encoder' });
    await assert.rejects(
      (async () => {
        for (let t = 0; t < 3; t++) await sink.write(t, rgb(t));
        await sink.close();
      })(),
      /ffmpeg encoder failed.*no-such-encoder/s,
    );
    assert.ok(!existsSync(path));
    assert.ok(!existsSync(sink.tempPath));
  });

  test('closing without frames creates nothing', async () => {
    const path = join(dir, 'empty.mp4');
    const sink = new Mp4Sink(path, { width: 12, height: 8, fps: 10 });
    await assert.rejects(sink.close(), /no frames/);
    assert.ok(!existsSync(path));
    assert.throws(() => new Mp4Sink(join(dir, 'x.gif'), { width: 2, height: 2, fps: 1 }), /unsupported video extension/);
  });
});

describe('overlayMask', () => {
  test('blends object colours and draws black 1-px boundaries', () => {
    const w = 5;
    const h = 5;
    const frame: RgbFrame = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(100) };
    const lab = new Uint8Array(w * h);
    for (let y = 1; y <= 3; y++) for (let x = 1; x <= 3; x++) lab[y * w + x] = 1; // 3x3 object 1
    const out = overlayMask(frame, { width: w, height: h, data: lab }, DAVIS_PALETTE, 0.5);
    const px = (x: number, y: number) => [...out.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3)];
    assert.deepEqual(px(0, 0), [100, 100, 100], 'background untouched');
    assert.deepEqual(px(1, 1), [0, 0, 0], 'boundary drawn');
    // Interior: 0.5 * 100 + 0.5 * palette[1] (DAVIS id 1 is (128, 0, 0)).
    assert.deepEqual(px(2, 2), [
      Math.round(50 + 0.5 * (DAVIS_PALETTE[3] as number)),
      Math.round(50 + 0.5 * (DAVIS_PALETTE[4] as number)),
      Math.round(50 + 0.5 * (DAVIS_PALETTE[5] as number)),
    ]);
    assert.ok(
      frame.data.every((v) => v === 100),
      'input frame unchanged',
    );
    const noEdges = overlayMask(frame, { width: w, height: h, data: lab }, DAVIS_PALETTE, 1, { boundary: null });
    assert.deepEqual([...noEdges.data.subarray((w + 1) * 3, (w + 1) * 3 + 3)], [...DAVIS_PALETTE.subarray(3, 6)]);
    assert.throws(() => overlayMask(frame, { width: 4, height: 5, data: new Uint8Array(20) }), /4x5/);
  });
});
