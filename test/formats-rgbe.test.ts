import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FloatType } from 'three';
import { HDRLoader } from 'three/examples/jsm/loaders/HDRLoader.js';
import { InputError } from '../src/core/errors.js';
import { decodeRgbe, encodeRgbe, readRgbe, writeRgbe } from '../src/formats/rgbe.js';
import { rng } from './helpers/random.js';

/** Radiance spanning 8 decades, with some exact zeros. */
function randomRadiance(width: number, height: number, seed: number): Float32Array {
  const next = rng(seed);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = next() < 0.05 ? 0 : 10 ** (next() * 8 - 4);
  return data;
}

const latin1 = (text: string): Uint8Array => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
const concat = (...parts: (Uint8Array | number[])[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

function assertInputError(fn: () => unknown, file: string, pattern: RegExp, what?: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof InputError, `expected InputError, got ${String(err)} (${what ?? ''})`);
      assert.equal(err.file, file);
      assert.match(err.message, pattern);
      return true;
    },
    what,
  );
}

function assertWithinRgbePrecision(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  for (let p = 0; p < expected.length; p += 3) {
    const max = Math.max(expected[p], expected[p + 1], expected[p + 2]);
    for (let c = 0; c < 3; c++) {
      // Mantissas are rounded: at most half a step of max / 128.
      const error = Math.abs(actual[p + c] - expected[p + c]);
      assert.ok(error <= max / 256 + 1e-6 * max, `pixel ${p / 3} channel ${c}: ${actual[p + c]} vs ${expected[p + c]}`);
    }
  }
}

test('round trip of random radiance stays within RGBE precision (RLE and flat widths)', () => {
  for (const [width, height] of [
    [37, 5],
    [8, 2],
    [5, 3], // below 8 pixels wide: flat scanlines
    [300, 2],
  ] as const) {
    const data = randomRadiance(width, height, width * 31 + height);
    const image = decodeRgbe(encodeRgbe({ width, height, data }), 'roundtrip.hdr');
    assert.equal(image.width, width);
    assert.equal(image.height, height);
    assert.equal(image.exposure, 1);
    assertWithinRgbePrecision(image.data, data);
    // Exact zeros and exactly representable values survive unchanged.
    for (let i = 0; i < data.length; i++)
      if (data[i] === 0 && Math.max(...data.subarray(i - (i % 3), i - (i % 3) + 3)) > 0) assert.equal(image.data[i], 0);
  }
  const exact = Float32Array.of(1, 0.5, 0, 3, 2, 1, 1024, 0, 0, 0.25, 0.25, 0.25, 0, 0, 0, 7, 7, 7, 100, 50, 25, 1e-3, 0, 0);
  const decoded = decodeRgbe(encodeRgbe({ width: 8, height: 1, data: exact }), 'exact.hdr').data;
  assert.deepEqual([...decoded.subarray(0, 21)], [...exact.subarray(0, 21)]);
});

test('constant areas compress with new-style RLE; negative values are stored as 0', () => {
  const width = 200;
  const height = 4;
  const data = new Float32Array(width * height * 3).fill(0.75);
  data[0] = -2;
  const bytes = encodeRgbe({ width, height, data });
  assert.ok(bytes.length < 200, `RLE output is ${bytes.length} bytes, flat would be ${width * height * 4}`);
  const decoded = decodeRgbe(bytes, 'const.hdr').data;
  assert.equal(decoded[0], 0);
  assert.equal(decoded[1], 0.75);
  assert.equal(decoded[decoded.length - 1], 0.75);
  assert.throws(() => encodeRgbe({ width: 1, height: 1, data: Float32Array.of(Number.NaN, 0, 0) }), RangeError);
  assert.throws(() => encodeRgbe({ width: 1, height: 1, data: Float32Array.of(Number.POSITIVE_INFINITY, 0, 0) }), RangeError);
});

test("three.js's HDRLoader reads our files to the same mantissas and exponents", () => {
  const width = 41;
  const height = 3;
  const data = randomRadiance(width, height, 9);
  const bytes = encodeRgbe({ width, height, data });
  const ours = decodeRgbe(bytes, 'three.hdr').data;
  const loader = new HDRLoader();
  loader.setDataType(FloatType);
  const parsed = loader.parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  assert.equal(parsed.width, width);
  assert.equal(parsed.height, height);
  const theirs = parsed.data as Float32Array;
  // three decodes m / 255 * 2^(E - 128) = ours * 256 / 255, in RGBA.
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) {
      const expected = (ours[3 * p + c] * 256) / 255;
      assert.ok(Math.abs(theirs[4 * p + c] - expected) <= 1e-6 * Math.max(expected, 1e-30), `pixel ${p} channel ${c}`);
    }
  }
});

test('hand-made files: flat, new-style RLE, old-style repeat, header keys', () => {
  // 2x1 flat: (128, 64, 0, E=129) -> 128 * 2^-7 = 1, 0.5, 0; the second pixel is black.
  const flat = concat(latin1('#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 1 +X 2\n'), [128, 64, 0, 129, 0, 0, 0, 0]);
  const a = decodeRgbe(flat, 'flat.hdr');
  assert.deepEqual([a.width, a.height], [2, 1]);
  assert.deepEqual([...a.data], [1, 0.5, 0, 0, 0, 0]);

  // 8x1 new-style RLE: R plane run of 8 x 64, G plane literals 0..7, B run 0, E run 130.
  const rle = concat(
    latin1('#?RGBE\n# a comment\nSOFTWARE=test\nEXPOSURE=2\nEXPOSURE=1.5\n\n-Y 1 +X 8\n'),
    [2, 2, 0, 8],
    [128 + 8, 64],
    [8, 0, 1, 2, 3, 4, 5, 6, 7],
    [128 + 8, 0],
    [128 + 8, 130],
  );
  const b = decodeRgbe(rle, 'rle.hdr');
  assert.equal(b.exposure, 3, 'EXPOSURE values multiply and are reported, not applied');
  for (let x = 0; x < 8; x++) {
    assert.equal(b.data[3 * x], 64 / 64, `R at ${x}`); // 2^(130 - 136) = 1/64
    assert.equal(b.data[3 * x + 1], x / 64, `G at ${x}`);
    assert.equal(b.data[3 * x + 2], 0);
  }

  // 4x2 old-style: a pixel then (1, 1, 1, 3) repeats it 3 times; CRLF line ends are accepted.
  const old = concat(latin1('#?RADIANCE\r\n\r\n-Y 2 +X 4\r\n'), [32, 16, 8, 134, 1, 1, 1, 3], [0, 0, 0, 0, 32, 0, 0, 134, 1, 1, 1, 2]);
  const c = decodeRgbe(old, 'old.hdr');
  assert.deepEqual([...c.data.subarray(0, 12)], [8, 4, 2, 8, 4, 2, 8, 4, 2, 8, 4, 2]);
  assert.deepEqual([...c.data.subarray(12)], [0, 0, 0, 8, 0, 0, 8, 0, 0, 8, 0, 0]);
});

test('every prefix of a small file is an InputError naming the file', () => {
  for (const [width, height] of [
    [9, 2],
    [3, 2],
  ] as const) {
    const bytes = encodeRgbe({ width, height, data: randomRadiance(width, height, 4) });
    for (let cut = 0; cut < bytes.length; cut++) {
      assertInputError(
        () => decodeRgbe(bytes.subarray(0, cut), 'cut.hdr'),
        'cut.hdr',
        /./,
        `${width}x${height} prefix ${cut} of ${bytes.length}`,
      );
    }
    assert.equal(decodeRgbe(bytes, 'cut.hdr').width, width);
  }
});

test('malformed files are InputErrors naming the problem', () => {
  const header = (res = '-Y 1 +X 8', extra = '') => latin1(`#?RADIANCE\n${extra}FORMAT=32-bit_rle_rgbe\n\n${res}\n`);
  const cases: [string, Uint8Array, RegExp][] = [
    ['not radiance', latin1('P6\n1 1\n255\n\0\0\0'), /does not start with "#\?"/],
    ['other magic', latin1('#?PHOTOSHOP\n\n-Y 1 +X 1\n\0\0\0\0'), /"#\?PHOTOSHOP"/],
    ['xyze', concat(latin1('#?RADIANCE\nFORMAT=32-bit_rle_xyze\n\n-Y 1 +X 1\n'), [0, 0, 0, 0]), /32-bit_rle_xyze.*not supported/],
    ['orientation', concat(header('+Y 1 +X 8'), new Array(32).fill(0)), /unsupported resolution line "\+Y 1 \+X 8"/],
    ['length mismatch', concat(header(), [2, 2, 0, 9], new Array(40).fill(0)), /scanline 0 has length 9, but the image is 8 wide/],
    ['run overflow', concat(header(), [2, 2, 0, 8], [128 + 9, 1], new Array(40).fill(0)), /run overflows scanline 0/],
    ['literal overflow', concat(header(), [2, 2, 0, 8], [9], new Array(40).fill(0)), /run overflows scanline 0/],
    ['zero packet', concat(header(), [2, 2, 0, 8], [0], new Array(40).fill(0)), /zero-length packet/],
    ['repeat first', concat(header('-Y 1 +X 2'), [1, 1, 1, 1, 0, 0, 0, 0]), /nothing to repeat/],
    ['old overflow', concat(header('-Y 1 +X 2'), [5, 5, 5, 130, 1, 1, 1, 2]), /run overflows scanline 0/],
    ['huge', concat(header('-Y 100000 +X 100000'), new Array(400).fill(0)), /larger than/],
    // Two scanlines of 100000 pixels in 8 bytes: beyond any plausible RLE, refused before allocating.
    ['implausible', concat(header('-Y 2 +X 100000'), new Array(8).fill(0)), /cannot hold 100000x2 pixels/],
    ['no scanline bytes', concat(header('-Y 3 +X 8'), new Array(8).fill(0)), /cannot hold 8x3 pixels/],
    ['bad exposure', concat(latin1('#?RADIANCE\nEXPOSURE=abc\n\n-Y 1 +X 1\n'), [0, 0, 0, 0]), /EXPOSURE=abc/],
    ['endless header', latin1(`#?RADIANCE\n${'# padding line\n'.repeat(5000)}`), /longer than 65536 bytes/],
  ];
  for (const [what, bytes, pattern] of cases) assertInputError(() => decodeRgbe(bytes, `${what}.hdr`), `${what}.hdr`, pattern, what);
});

test('file helpers write atomically and read back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vprop-rgbe-'));
  try {
    const data = randomRadiance(12, 7, 2);
    const path = join(dir, 'out', 'frame.hdr');
    await writeRgbe(path, { width: 12, height: 7, data });
    assert.deepEqual(await readdir(join(dir, 'out')), ['frame.hdr']);
    assertWithinRgbePrecision((await readRgbe(path)).data, data);
    await assert.rejects(readRgbe(join(dir, 'missing.hdr')), (err: unknown) => err instanceof InputError && /ENOENT/.test(err.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
