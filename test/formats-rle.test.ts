import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../src/core/errors.js';
import { decodeRle, encodeRle, encodeRleCounts, rleArea, rleCounts, rleFromString, rleToString } from '../src/formats/rle.js';
import { rng } from './helpers/random.js';

/** Row-major h x w mask with the square [from, to) x [from, to) set. */
function squareMask(h: number, w: number, from: number, to: number): Uint8Array {
  const mask = new Uint8Array(h * w);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) mask[y * w + x] = 1;
  return mask;
}

test('column-major order: only the top-right pixel of a 2x3 mask', () => {
  // 2 rows, 3 columns; pixel (y=0, x=2) is column-major position 2 * 2 + 0 = 4.
  const mask = Uint8Array.of(0, 0, 1, 0, 0, 0);
  assert.deepEqual(encodeRleCounts(mask, 2, 3), [4, 1, 1]);
  assert.deepEqual(encodeRle(mask, 2, 3), { size: [2, 3], counts: '411' });
  // The bottom-left pixel (y=1, x=0) is position 1: [1, 1, 4].
  assert.deepEqual(encodeRleCounts(Uint8Array.of(0, 0, 0, 1, 0, 0), 2, 3), [1, 1, 4]);
});

test('known pycocotools strings (25x25 squares, 4x4 example)', () => {
  // Strings produced by pycocotools.mask.encode for a 25x25 mask with [a, b) x [a, b) set, as
  // recorded in pytorchcocotools' tests against pycocotools.
  const cases: [number, number, string][] = [
    [0, 5, '05d00000000d?'],
    [5, 10, 'R45d00000000b;'],
    [20, 25, 'X`05d00000000'],
  ];
  for (const [from, to, expected] of cases) {
    const mask = squareMask(25, 25, from, to);
    assert.equal(encodeRle(mask, 25, 25).counts, expected, `square [${from}, ${to})`);
    assert.deepEqual(decodeRle({ size: [25, 25], counts: expected }), mask);
    assert.equal(rleArea({ size: [25, 25], counts: expected }), 25);
  }
  // Hand-derived: [0, 5, 20, 5, ...] begins "05d0": 20 = 0b10100 has the sign bit 0x10 set, so
  // it needs a second, zero group; later counts are deltas against counts[i - 2].
  assert.deepEqual(rleFromString('05d00000000d?'), [0, 5, 20, 5, 20, 5, 20, 5, 20, 5, 520]);
  // rpycocotools' documented 4x4 example.
  assert.equal(rleToString([5, 2, 2, 2, 5]), '52203');
});

test('negative deltas and multi-group values encode as pycocotools does', () => {
  // 100 = 3*32 + 4 -> groups 4 (+0x20 continue) then 3: "T3"; 5 -> "5"; 20 -> "d0";
  // 3 - 5 = -2 -> group 30 with the sign bit and nothing left (x = -1): "N".
  assert.equal(rleToString([100, 5, 20, 3]), 'T35d0N');
  assert.deepEqual(rleFromString('T35d0N'), [100, 5, 20, 3]);
  // Counts beyond 2^31 survive (no 32-bit bit operators).
  const big = [2 ** 33 + 7, 1, 3, 2 ** 32];
  assert.deepEqual(rleFromString(rleToString(big)), big);
});

test('round trip is exact on random masks, including edge cases', () => {
  const next = rng(5);
  const sizes: [number, number][] = [
    [1, 1],
    [1, 17],
    [17, 1],
    [3, 3],
    [31, 47],
    [120, 90],
  ];
  for (const [h, w] of sizes) {
    const n = h * w;
    const variants: Uint8Array[] = [
      new Uint8Array(n),
      new Uint8Array(n).fill(1),
      Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0)),
      Uint8Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : 0)),
      Uint8Array.from({ length: n }, () => (next() < 0.5 ? 1 : 0)),
      // Blobby masks: long runs give multi-group counts and large deltas.
      Uint8Array.from({ length: n }, (_, i) => (Math.sin((i % w) / 7) + Math.cos(Math.floor(i / w) / 5) > 0.8 ? 1 : 0)),
    ];
    for (const mask of variants) {
      const rle = encodeRle(mask, h, w);
      assert.deepEqual(decodeRle(rle), mask, `${h}x${w}`);
      const counts = encodeRleCounts(mask, h, w);
      assert.deepEqual(rleFromString(rle.counts), counts);
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        n,
      );
      assert.equal(
        rleArea(rle),
        mask.reduce((a, b) => a + b, 0),
      );
    }
  }
  // All-zero: one run; all-one: a leading empty zero run.
  assert.deepEqual(encodeRleCounts(new Uint8Array(6), 2, 3), [6]);
  assert.deepEqual(encodeRleCounts(new Uint8Array(6).fill(1), 2, 3), [0, 6]);
});

test('uncompressed counts decode (COCO iscrowd style)', () => {
  // 2 rows x 3 columns, counts [1, 2, 3]: column-major positions 1 and 2 are set,
  // i.e. (y=1, x=0) and (y=0, x=1).
  const mask = decodeRle({ size: [2, 3], counts: [1, 2, 3] });
  assert.deepEqual([...mask], [0, 1, 0, 1, 0, 0]);
  assert.equal(rleArea({ size: [2, 3], counts: [1, 2, 3] }), 2);
  assert.deepEqual(rleCounts({ size: [2, 3], counts: rleToString([1, 2, 3]) }), [1, 2, 3]);
});

test('malformed RLEs are InputErrors naming the source', () => {
  const bad: [Parameters<typeof decodeRle>[0], RegExp][] = [
    [{ size: [2, 3], counts: [1, 2] }, /sum to 3 but size 2x3 has 6 pixels/],
    [{ size: [2, 3], counts: '7' }, /sum to 7/],
    [{ size: [2, 3], counts: '4 1' }, /invalid character " " at offset 1/],
    [{ size: [2, 3], counts: 'T' }, /ends in the middle of a number/],
    [{ size: [2, 3], counts: [1, -1, 6] }, /count 1 is -1/],
    [{ size: [2, 3], counts: '000N' }, /negative/],
    [{ size: [2] as unknown as [number, number], counts: [6] }, /size must be \[height, width\]/],
  ];
  for (const [rle, pattern] of bad) {
    assert.throws(
      () => decodeRle(rle, 'masklets.json'),
      (err: unknown) => err instanceof InputError && err.file === 'masklets.json' && pattern.test(err.message),
      JSON.stringify(rle),
    );
  }
  assert.throws(
    () => decodeRle({ size: [1, 1], counts: [2] }),
    (err: unknown) => err instanceof InputError && err.file === '<rle>',
  );
});
