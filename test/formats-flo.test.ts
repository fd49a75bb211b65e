import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { InputError } from '../src/core/errors.js';
import { decodeFlo, encodeFlo, FLO_MAGIC, flowToColor, middleburyColorWheel, readFlo, writeFlo } from '../src/formats/flo.js';

const W = 7;
const H = 5;

/** Planar (dy, dx) test flow with awkward float values (sub-normals, negatives, unknown marker). */
function sampleFlow(): Float32Array {
  const f = new Float32Array(2 * W * H);
  for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 1.7) * 37.123456 + (i % 3 === 0 ? 1e-40 : 0);
  f[3] = 1e10; // Middlebury "unknown"
  return f;
}

describe('.flo read/write', () => {
  test('encode → decode is bit-exact and the file layout is Middlebury (u = dx first)', () => {
    const flow = sampleFlow();
    const bytes = encodeFlo(flow, H, W);
    assert.equal(bytes.length, 12 + 8 * W * H);
    assert.equal(String.fromCharCode(...bytes.subarray(0, 4)), 'PIEH');
    const view = new DataView(bytes.buffer);
    assert.equal(view.getFloat32(0, true), FLO_MAGIC);
    assert.equal(view.getInt32(4, true), W);
    assert.equal(view.getInt32(8, true), H);
    // Pixel (0, 1): u = dx = channel 1, v = dy = channel 0.
    assert.equal(view.getFloat32(12 + 8, true), flow[W * H + 1]);
    assert.equal(view.getFloat32(12 + 12, true), flow[1]);
    const back = decodeFlo(bytes);
    assert.equal(back.width, W);
    assert.equal(back.height, H);
    assert.deepEqual(new Uint8Array(back.flow.buffer), new Uint8Array(flow.buffer));
  });

  test('readFlo/writeFlo round trip through a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vprop-flo-'));
    try {
      const path = join(dir, 'a.flo');
      const flow = sampleFlow();
      await writeFlo(path, flow, H, W);
      const back = await readFlo(path);
      assert.deepEqual([back.width, back.height], [W, H]);
      assert.deepEqual(new Uint8Array(back.flow.buffer), new Uint8Array(flow.buffer));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('bad magic, truncation, trailing bytes, bad size and missing files raise InputError naming the file', async () => {
    const good = encodeFlo(sampleFlow(), H, W);
    const bad = good.slice();
    bad.set([0x89, 0x50, 0x4e, 0x47]); // a PNG signature
    const cases: [Uint8Array, RegExp][] = [
      [bad, /magic is "\?PNG", expected "PIEH"/],
      [good.subarray(0, good.length - 1), /truncated \.flo: 291 bytes, expected 292 for 7x5/],
      [good.subarray(0, 8), /shorter than the 12-byte header/],
      [new Uint8Array([...good, 0, 0]), /2 unexpected trailing bytes/],
    ];
    const negative = good.slice();
    new DataView(negative.buffer).setInt32(4, -3, true);
    cases.push([negative, /corrupt \.flo header: size -3x5/]);
    for (const [bytes, re] of cases) {
      assert.throws(
        () => decodeFlo(bytes, 'clip/0001.flo'),
        (e: unknown) => e instanceof InputError && e.file === 'clip/0001.flo' && re.test(e.problem),
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'vprop-flo-'));
    try {
      const path = join(dir, 'cut.flo');
      await writeFile(path, good.subarray(0, 100));
      await assert.rejects(readFlo(path), (e: unknown) => e instanceof InputError && e.file === path && /truncated/.test(e.problem));
      await assert.rejects(readFlo(join(dir, 'missing.flo')), (e: unknown) => e instanceof InputError && /cannot read/.test(e.problem));
      // A flow of the wrong length is refused before anything is written.
      await assert.rejects(writeFlo(join(dir, 'never.flo'), new Float32Array(3), H, W), RangeError);
      await assert.rejects(readFile(join(dir, 'never.flo')), { code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Middlebury colour coding', () => {
  test('the wheel has 55 entries starting red and passing yellow, green, cyan, blue, magenta', () => {
    const wheel = middleburyColorWheel();
    assert.equal(wheel.length, 55 * 3);
    const at = (k: number) => [...wheel.subarray(k * 3, k * 3 + 3)];
    assert.deepEqual(at(0), [255, 0, 0]); // RY start
    assert.deepEqual(at(15), [255, 255, 0]); // YG start
    assert.deepEqual(at(21), [0, 255, 0]); // GC start
    assert.deepEqual(at(25), [0, 255, 255]); // CB start
    assert.deepEqual(at(36), [0, 0, 255]); // BM start
    assert.deepEqual(at(49), [255, 0, 255]); // MR start
  });

  test('zero flow is white, directions get distinct saturated hues, unknown is black', () => {
    // 1 x 6 image: zero, right, down, left, up, unknown.
    const n = 6;
    const flow = new Float32Array(2 * n);
    const set = (i: number, dy: number, dx: number) => {
      flow[i] = dy;
      flow[n + i] = dx;
    };
    set(1, 0, 3);
    set(2, 3, 0);
    set(3, 0, -3);
    set(4, -3, 0);
    set(5, 2e9, 0);
    const rgb = flowToColor(flow, 1, n);
    const px = (i: number) => [...rgb.subarray(i * 3, i * 3 + 3)];
    assert.deepEqual(px(0), [255, 255, 255]);
    assert.deepEqual(px(5), [0, 0, 0]);
    const colours = [1, 2, 3, 4].map(px);
    for (const c of colours) assert.ok(Math.min(...c) <= 1, `full-magnitude flow is saturated: ${c}`);
    assert.equal(new Set(colours.map((c) => c.join(','))).size, 4, 'four directions, four colours');
    // Middlebury's orientation: leftward motion codes cyan-ish (blue+green high, red 0), rightward red.
    assert.ok(px(3)[0] === 0 && px(3)[1] > 200 && px(3)[2] > 100, `left = ${px(3)}`);
    assert.ok(px(1)[0] === 255 && px(1)[1] < 60, `right = ${px(1)}`);
    // Half the maximum magnitude is a paler version of the same hue.
    set(1, 0, 1.5);
    const pale = flowToColor(flow, 1, n, { maxFlow: 3 });
    assert.ok(pale[3] === 255 && pale[4] > 100 && pale[5] > 100, `half-magnitude right = ${[...pale.subarray(3, 6)]}`);
    // Beyond maxFlow the colour is darkened (×0.75) rather than clipped.
    const dark = flowToColor(flow, 1, n, { maxFlow: 1 });
    assert.equal(dark[3], Math.floor(255 * 0.75));
  });

  test('all-zero flow codes as white without dividing by zero', () => {
    const rgb = flowToColor(new Float32Array(2 * 4), 2, 2);
    assert.ok(rgb.every((v) => v === 255));
  });
});
