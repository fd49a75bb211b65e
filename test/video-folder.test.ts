import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../src/core/errors.js';
import type { IndexedFrame, RgbFrame } from '../src/core/types.js';
import { naturalCompare, naturalSort } from '../src/util/natural-sort.js';
import { describeGaps, findNumberingGaps, listImageFiles, openImageFolder } from '../src/video/folder.js';
import { fromAsyncIterable } from '../src/video/iterable.js';
import { openSource } from '../src/video/open.js';

/** A frame whose pixels encode (t, x, y), so any mix-up of order or layout shows. */
function frameAt(t: number, width: number, height: number): RgbFrame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = t * 10;
      data[o + 1] = x * 4;
      data[o + 2] = y * 4;
    }
  }
  return { width, height, data };
}

async function writePng(path: string, f: RgbFrame): Promise<void> {
  await sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } })
    .png()
    .toFile(path);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vprop-folder-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('natural sort', () => {
  test('digit runs compare numerically', () => {
    assert.deepEqual(naturalSort(['frame10.png', 'frame2.png', 'frame1.png', 'Frame3.png']), [
      'frame1.png',
      'frame2.png',
      'Frame3.png',
      'frame10.png',
    ]);
    assert.deepEqual(naturalSort(['00010.jpg', '00002.jpg', '00001.jpg']), ['00001.jpg', '00002.jpg', '00010.jpg']);
    assert.ok(naturalCompare('a2b', 'a10b') < 0);
    assert.ok(naturalCompare('x99999999999999999999', 'x100000000000000000000') < 0);
    // Total order: equal numbers with different padding still sort deterministically.
    assert.notEqual(naturalCompare('1.png', '01.png'), 0);
    assert.equal(naturalCompare('same', 'same'), 0);
  });
});

describe('numbering gaps', () => {
  test('finds missing ranges only for uniform numbered names', () => {
    assert.deepEqual(findNumberingGaps(['00001.jpg', '00002.jpg', '00005.jpg', '00007.jpg']), [
      [3, 4],
      [6, 6],
    ]);
    assert.equal(
      describeGaps([
        [3, 4],
        [6, 6],
      ]),
      'missing frames 3-4, 6',
    );
    assert.deepEqual(findNumberingGaps(['a.jpg', 'b.jpg']), []);
    assert.deepEqual(findNumberingGaps(['cam1_001.jpg', 'cam2_005.jpg']), []);
  });
});

describe('image folders', () => {
  test('natural order, case-insensitive extensions, frames decode to the written pixels', async () => {
    const d = join(dir, 'mixed');
    await mkdir(d);
    // Unpadded names: lexical order would put 10 before 2.
    const names = ['f1.png', 'f2.PNG', 'f10.png', 'f11.png'];
    for (const [t, n] of names.entries()) await writePng(join(d, n), frameAt(t, 16, 8));
    await writeFile(join(d, 'notes.txt'), 'not a frame');
    await writeFile(join(d, '.f3.png.1234.partial'), 'temporary of an interrupted writer');
    assert.deepEqual(await listImageFiles(d), names);

    const warnings: string[] = [];
    const src = await openImageFolder(d, { onWarning: (m) => warnings.push(m), fps: 24 });
    assert.deepEqual(
      { kind: src.info.kind, w: src.info.width, h: src.info.height, n: src.info.frameCount, fps: src.info.fps },
      { kind: 'folder', w: 16, h: 8, n: 4, fps: 24 },
    );
    // f1, f2, f10, f11: a numbering gap 3-9 is reported.
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /missing frames 3-9/);

    const seen: IndexedFrame[] = [];
    for await (const f of src) seen.push(f);
    assert.deepEqual(
      seen.map((f) => f.index),
      [0, 1, 2, 3],
    );
    for (const f of seen) assert.ok(Buffer.from(f.data).equals(Buffer.from(frameAt(f.index, 16, 8).data)));
    const f2 = await src.frame(2);
    assert.ok(Buffer.from(f2.data).equals(Buffer.from(frameAt(2, 16, 8).data)));
    const part: number[] = [];
    for await (const f of src.frames(1, 3)) part.push(f.index);
    assert.deepEqual(part, [1, 2]);
    await assert.rejects(src.frame(4), InputError);
    await src.close();
  });

  test('gaps in zero-padded numbering call onWarning', async () => {
    const d = join(dir, 'gaps');
    await mkdir(d);
    for (const n of ['00001.png', '00002.png', '00005.png']) await writePng(join(d, n), frameAt(1, 4, 4));
    const warnings: string[] = [];
    const src = await openSource(d, { onWarning: (m) => warnings.push(m) });
    assert.equal(src.info.frameCount, 3);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /missing frames 3-4/);
    await src.close();
  });

  test('grey and RGBA images decode to 3-channel RGB', async () => {
    const d = join(dir, 'grey');
    await mkdir(d);
    const grey = new Uint8Array(6 * 4).map((_, i) => i * 10);
    await sharp(grey, { raw: { width: 6, height: 4, channels: 1 } })
      .png()
      .toFile(join(d, '0.png'));
    const rgba = new Uint8Array(6 * 4 * 4).map((_, i) => (i % 4 === 3 ? 128 : 200));
    await sharp(rgba, { raw: { width: 6, height: 4, channels: 4 } })
      .png()
      .toFile(join(d, '1.png'));
    await sharp(grey, { raw: { width: 6, height: 4, channels: 1 } })
      .jpeg({ quality: 100 })
      .toFile(join(d, '2.JPEG'));
    const src = await openImageFolder(d);
    const g = await src.frame(0);
    assert.equal(g.data.length, 6 * 4 * 3);
    assert.deepEqual([...g.data.subarray(3 * 5, 3 * 6)], [50, 50, 50]);
    const a = await src.frame(1);
    assert.deepEqual([...a.data.subarray(0, 3)], [200, 200, 200]);
    const j = await src.frame(2);
    assert.equal(j.data.length, 6 * 4 * 3);
    await src.close();
  });

  test('a frame of a different size: a warning at open, an InputError naming that file when it is read', async () => {
    const d = join(dir, 'sizes');
    await mkdir(d);
    await writePng(join(d, '00000.png'), frameAt(0, 8, 8));
    await writePng(join(d, '00001.png'), frameAt(1, 8, 8));
    await writePng(join(d, '00002.png'), frameAt(2, 10, 8));
    await writePng(join(d, '00003.png'), frameAt(3, 12, 8));
    const warnings: string[] = [];
    const src = await openImageFolder(d, { onWarning: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /00002\.png: \(frame 2\) is 10x8 but the first frame \(00000\.png\) is 8x8.*and 1 more/);
    // The frames before the first bad one stay usable: a run writes them before it stops.
    assert.equal((await src.frame(1)).index, 1);
    await assert.rejects(src.frame(2), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.file, join(d, '00002.png'));
      assert.match(err.problem, /frame 2\) is 10x8 but the first frame \(00000\.png\) is 8x8/);
      return true;
    });
    const streamed: number[] = [];
    await assert.rejects(async () => {
      for await (const f of src.frames(0)) streamed.push(f.index);
    }, InputError);
    assert.deepEqual(streamed, [0, 1]);
    await src.close();
    // Without the up-front check the mismatch surfaces when the frame is decoded.
    const lazy = await openImageFolder(d, { checkSizes: false });
    assert.equal((await lazy.frame(1)).index, 1);
    await assert.rejects(lazy.frame(3), (err: unknown) => err instanceof InputError && err.file === join(d, '00003.png'));
    await lazy.close();
  });

  test('empty, missing and corrupt inputs -> InputError', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await assert.rejects(openImageFolder(empty), (err: unknown) => err instanceof InputError && err.file === empty);
    await assert.rejects(openImageFolder(join(dir, 'absent')), InputError);
    const bad = join(dir, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, '00000.jpg'), 'definitely not a jpeg');
    await assert.rejects(openImageFolder(bad), (err: unknown) => err instanceof InputError && err.file === join(bad, '00000.jpg'));
    await writeFile(join(dir, 'notes.txt'), 'x');
    await assert.rejects(
      openSource(join(dir, 'notes.txt')),
      (err: unknown) => err instanceof InputError && /unsupported file type/.test(err.problem),
    );
    await assert.rejects(
      openSource(join(dir, 'nothing-here')),
      (err: unknown) => err instanceof InputError && /does not exist/.test(err.problem),
    );
  });

  test('memory stays bounded: the cache holds at most cacheSize frames', async () => {
    const d = join(dir, 'many');
    await mkdir(d);
    for (let t = 0; t < 20; t++) await writePng(join(d, `${String(t).padStart(3, '0')}.png`), frameAt(t, 8, 8));
    const src = await openImageFolder(d, { cacheSize: 3 });
    const first = await src.frame(0);
    assert.equal(await src.frame(0), first, 'a cached frame is returned without decoding');
    for await (const _ of src) {
      // stream through everything; only 3 stay cached
    }
    const again = await src.frame(0);
    assert.notEqual(again, first, 'frame 0 was evicted and decoded again');
    assert.ok(Buffer.from(again.data).equals(Buffer.from(first.data)));
    await src.close();
  });
});

describe('async-iterable sources', () => {
  async function* generate(n: number, w = 4, h = 2): AsyncGenerator<RgbFrame> {
    for (let t = 0; t < n; t++) yield frameAt(t, w, h);
  }

  test('info from the first frame; iteration yields indices in order', async () => {
    const src = await openSource(generate(5), { fps: 30, origin: 'camera' });
    assert.deepEqual(src.info, { kind: 'iterable', origin: 'camera', width: 4, height: 2, frameCount: undefined, fps: 30 });
    const got: number[] = [];
    for await (const f of src) {
      assert.equal(f.data[0], f.index * 10);
      got.push(f.index);
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4]);
    await src.close();
  });

  test('random access: ahead by consuming, back within the look-back buffer, older -> InputError', async () => {
    const src = await fromAsyncIterable(generate(30), { lookBack: 4 });
    assert.equal((await src.frame(10)).data[0], 100);
    assert.equal((await src.frame(8)).data[0], 80); // within the last 4
    await assert.rejects(src.frame(5), (err: unknown) => err instanceof InputError && /no longer available/.test(err.problem));
    const rest: number[] = [];
    for await (const f of src.frames(9, 13)) rest.push(f.index);
    assert.deepEqual(rest, [9, 10, 11, 12]);
    await assert.rejects(src.frame(40), (err: unknown) => err instanceof InputError && /ended after 30 frames/.test(err.problem));
    await src.close();
  });

  test('frames must share one size; an empty iterable is rejected', async () => {
    async function* uneven(): AsyncGenerator<RgbFrame> {
      yield frameAt(0, 4, 2);
      yield frameAt(1, 6, 2);
    }
    const src = await fromAsyncIterable(uneven(), { origin: 'uneven stream' });
    await assert.rejects(
      src.frame(1),
      (err: unknown) => err instanceof InputError && err.file === 'uneven stream' && /6x2/.test(err.problem),
    );
    await assert.rejects(fromAsyncIterable(generate(0)), InputError);
  });

  test('close() finalises the producer', async () => {
    let finalised = false;
    async function* producer(): AsyncGenerator<RgbFrame> {
      try {
        for (let t = 0; ; t++) yield frameAt(t % 20, 4, 2);
      } finally {
        finalised = true;
      }
    }
    const src = await fromAsyncIterable(producer());
    await src.frame(3);
    await src.close();
    assert.equal(finalised, true);
  });
});
