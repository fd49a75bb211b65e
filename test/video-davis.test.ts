import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { InputError } from '../src/core/errors.js';
import { encodeBinaryMaskPng, encodePalettePng } from '../src/formats/png.js';
import { DavisFrameSource, listDavisSequences, openDavis } from '../src/video/davis.js';
import { openSource } from '../src/video/open.js';
import { sharedPath } from './helpers/shared.js';

const davis = sharedPath('davis');

describe('DAVIS-2016 dev data (shared)', () => {
  test('blackswan: 50 frames of 854x480, every frame annotated with 0/1 masks', { skip: davis.skip }, async () => {
    const seqs = await listDavisSequences(davis.path);
    assert.ok(seqs.includes('blackswan'));
    assert.ok(seqs.includes('bmx-trees'));
    const d = await openDavis(davis.path, 'blackswan');
    assert.deepEqual(d.sequences, seqs);
    const { info } = d.frames;
    assert.deepEqual([info.kind, info.width, info.height, info.frameCount], ['davis', 854, 480, 50]);
    assert.equal(d.annotations.indices.length, 50);
    assert.deepEqual(d.annotations.indices.slice(0, 3), [0, 1, 2]);

    const mask = await d.annotations.read(0);
    assert.deepEqual([mask.width, mask.height], [854, 480]);
    let ones = 0;
    for (const v of mask.data) {
      assert.ok(v === 0 || v === 1, `mask value ${v}`);
      ones += v;
    }
    assert.ok(ones > 1000 && ones < mask.data.length / 2, `the swan covers ${ones} pixels`);

    const f = await d.frames.frame(49);
    assert.equal(f.data.length, 854 * 480 * 3);
    await d.frames.close();
  });

  test('openSource: root::sequence and JPEGImages/480p/<seq> paths open DAVIS with annotations', { skip: davis.skip }, async () => {
    const a = await openSource(`${davis.path}::dog`);
    assert.ok(a instanceof DavisFrameSource);
    assert.equal(a.sequence, 'dog');
    assert.equal(a.info.frameCount, 60);
    assert.equal(a.annotations.indices.length, 60);
    const b = await openSource(join(davis.path, 'JPEGImages', '480p', 'dog'));
    assert.ok(b instanceof DavisFrameSource);
    assert.equal(b.info.kind, 'davis');
    assert.equal(b.annotations.file(3), join(davis.path, 'Annotations', '480p', 'dog', '00003.png'));
    const c = await openSource(davis.path, { sequence: 'dog' });
    assert.equal(c.info.frameCount, 60);
    await assert.rejects(
      openSource(davis.path),
      (err: unknown) => err instanceof InputError && /name a sequence/.test(err.problem) && /blackswan/.test(err.problem),
    );
    await assert.rejects(
      openDavis(davis.path, 'no-such-seq'),
      (err: unknown) => err instanceof InputError && /not found/.test(err.problem),
    );
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});

describe('DAVIS layout edge cases (generated)', () => {
  let root: string;
  const W = 32;
  const H = 24;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'vprop-davis-'));
    const jpg = sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 120, b: 30 } } }).jpeg();
    for (const seq of ['seq-a', 'seq-b', 'seq-c']) {
      await mkdir(join(root, 'JPEGImages', '480p', seq), { recursive: true });
      await mkdir(join(root, 'Annotations', '480p', seq), { recursive: true });
      for (let t = 0; t < 4; t++) await jpg.clone().toFile(join(root, 'JPEGImages', '480p', seq, `${String(t).padStart(5, '0')}.jpg`));
    }
    // seq-a: a DAVIS-2017 palette mask with two objects on frame 0 and one on frame 2.
    const ids = new Uint8Array(W * H);
    ids.fill(1, 0, W * 4);
    ids.fill(2, W * 10, W * 12);
    await writeFile(join(root, 'Annotations', '480p', 'seq-a', '00000.png'), encodePalettePng({ width: W, height: H, data: ids }));
    await writeFile(
      join(root, 'Annotations', '480p', 'seq-a', '00002.png'),
      encodePalettePng({ width: W, height: H, data: new Uint8Array(W * H).fill(3, 0, 5) }),
    );
    // seq-b: a mask of the wrong size.
    await writeFile(join(root, 'Annotations', '480p', 'seq-b', '00000.png'), encodeBinaryMaskPng(new Uint8Array(16 * 12).fill(1), 16, 12));
    // seq-c: a mask with no matching frame.
    await writeFile(join(root, 'Annotations', '480p', 'seq-c', '00009.png'), encodeBinaryMaskPng(new Uint8Array(W * H), W, H));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('palette masks keep object ids; annotated indices come from file names', async () => {
    const d = await openDavis(root, 'seq-a');
    assert.deepEqual(d.sequences, ['seq-a', 'seq-b', 'seq-c']);
    assert.deepEqual(d.annotations.indices, [0, 2]);
    const m0 = await d.annotations.read(0);
    assert.deepEqual([...new Set(m0.data)].sort(), [0, 1, 2]);
    assert.equal(m0.data[0], 1);
    assert.equal(m0.data[W * 11], 2);
    const m2 = await d.annotations.read(2);
    assert.equal(m2.data[4], 3);
    await assert.rejects(d.annotations.read(1), (err: unknown) => err instanceof InputError && /has no annotation/.test(err.problem));
    await d.frames.close();
  });

  test('a mask whose size differs from the frames -> InputError naming the mask', async () => {
    const d = await openDavis(root, 'seq-b');
    const maskFile = join(root, 'Annotations', '480p', 'seq-b', '00000.png');
    await assert.rejects(d.annotations.read(0), (err: unknown) => {
      assert.ok(err instanceof InputError);
      assert.equal(err.file, maskFile);
      assert.match(err.problem, /mask is 16x12 but the frames are 32x24/);
      return true;
    });
    await d.frames.close();
  });

  test('a mask without a matching frame -> InputError naming the mask', async () => {
    await assert.rejects(
      openDavis(root, 'seq-c'),
      (err: unknown) => err instanceof InputError && err.file === join(root, 'Annotations', '480p', 'seq-c', '00009.png'),
    );
  });

  test('a root without JPEGImages/<resolution> -> InputError', async () => {
    await assert.rejects(listDavisSequences(root, '1080p'), (err: unknown) => err instanceof InputError && err.file === root);
  });
});
