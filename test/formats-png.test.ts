import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { decode as fastPngDecode } from 'fast-png';
import sharp from 'sharp';
import { InputError } from '../src/core/errors.js';
import type { LabelImage } from '../src/core/types.js';
import {
  crc32,
  DAVIS_PALETTE,
  decodeLabelPng,
  encodeBinaryMaskPng,
  encodePalettePng,
  encodeRgbPng,
  readLabelPng,
  readPerObjectMasks,
  splitObjects,
  validateLabels,
  writeLabelPng,
  writePerObjectMasks,
} from '../src/formats/png.js';
import { rng } from './helpers/random.js';
import { sharedPath } from './helpers/shared.js';

function randomLabels(width: number, height: number, maxId: number, seed: number): LabelImage {
  const next = rng(seed);
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(next() * (maxId + 1));
  return { width, height, data };
}

/**
 * Build a PNG from raw parts, independently of the module under test (except its CRC), to feed
 * the decoder colour types and bit depths our writer never produces. `rows` are unfiltered
 * scanlines, already packed to `bitDepth`; each gets filter byte 0.
 */
function buildPng(opts: {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  rows: Uint8Array[];
  palette?: Uint8Array;
}): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    out.set(data, 8);
    out.writeUInt32BE(crc32(out, 4, 8 + data.length), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(opts.width, 0);
  ihdr.writeUInt32BE(opts.height, 4);
  ihdr[8] = opts.bitDepth;
  ihdr[9] = opts.colorType;
  const raw = Buffer.concat(opts.rows.flatMap((row) => [Buffer.of(0), Buffer.from(row)]));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...(opts.palette ? [chunk('PLTE', opts.palette)] : []),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function assertInputError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.match(err.message, pattern);
    assert.ok(err.message.includes(file), 'message names the file');
    return true;
  });
}

test('DAVIS palette: first entries and bit construction', () => {
  assert.equal(DAVIS_PALETTE.length, 768);
  const expected = [
    [0, 0, 0],
    [128, 0, 0],
    [0, 128, 0],
    [128, 128, 0],
    [0, 0, 128],
    [128, 0, 128],
    [0, 128, 128],
    [128, 128, 128],
    [64, 0, 0],
    [192, 0, 0],
  ];
  expected.forEach((rgb, i) => {
    assert.deepEqual([...DAVIS_PALETTE.subarray(3 * i, 3 * i + 3)], rgb, `index ${i}`);
  });
  // VOC's void colour, index 255, is (224, 224, 192).
  assert.deepEqual([...DAVIS_PALETTE.subarray(765, 768)], [224, 224, 192]);
  // All 256 colours are distinct, so colour -> index is a bijection.
  const colours = new Set<number>();
  for (let i = 0; i < 256; i++) colours.add((DAVIS_PALETTE[3 * i] << 16) | (DAVIS_PALETTE[3 * i + 1] << 8) | DAVIS_PALETTE[3 * i + 2]);
  assert.equal(colours.size, 256);
});

test('palette PNG round trip preserves indices (odd sizes, ids up to 255)', () => {
  const cases: [number, number, number][] = [
    [1, 1, 255],
    [7, 3, 255],
    [3, 7, 4],
    [64, 33, 255],
    [130, 2, 1],
  ];
  cases.forEach(([w, h, maxId], k) => {
    const labels = randomLabels(w, h, maxId, 100 + k);
    if (maxId === 255) labels.data[labels.data.length - 1] = 255;
    const png = encodePalettePng(labels);
    const ours = decodeLabelPng(png, 'roundtrip.png');
    assert.equal(ours.width, w);
    assert.equal(ours.height, h);
    assert.deepEqual(ours.data, labels.data);
    // fast-png on its own sees an 8-bit, one-channel palette image holding the same indices.
    const direct = fastPngDecode(png);
    assert.equal(direct.depth, 8);
    assert.equal(direct.channels, 1);
    assert.equal(direct.palette?.length, 256);
    assert.deepEqual(Uint8Array.from(direct.data), labels.data);
  });
});

test('PLTE holds exactly paletteSize entries and must cover the largest id', () => {
  const labels = { width: 4, height: 1, data: Uint8Array.of(0, 1, 2, 3) };
  const png = encodePalettePng(labels, DAVIS_PALETTE, { paletteSize: 4 });
  assert.equal(fastPngDecode(png).palette?.length, 4);
  assert.deepEqual(decodeLabelPng(png, 'small.png').data, labels.data);
  assert.throws(() => encodePalettePng(labels, DAVIS_PALETTE, { paletteSize: 3 }), /id 3/);
});

test('sharp (libpng) reads our palette PNG as a palette image with DAVIS colours', async () => {
  const labels = randomLabels(7, 3, 255, 7);
  const png = encodePalettePng(labels);
  const meta = await sharp(png).metadata();
  assert.equal(meta.width, 7);
  assert.equal(meta.height, 3);
  assert.equal(meta.isPalette, true);
  assert.equal(meta.bitsPerSample, 8);
  assert.equal(meta.channels, 3);
  assert.equal(meta.hasAlpha, false);
  const rgb = await sharp(png).raw().toBuffer();
  for (let i = 0; i < labels.data.length; i++) {
    const id = labels.data[i];
    assert.deepEqual([...rgb.subarray(3 * i, 3 * i + 3)], [...DAVIS_PALETTE.subarray(3 * id, 3 * id + 3)], `pixel ${i}`);
  }
});

test('RGB PNG: sharp decodes exactly the samples we wrote (adaptive filters)', async () => {
  const next = rng(3);
  const width = 23;
  const height = 11;
  const data = new Uint8Array(width * height * 3);
  // A gradient plus noise makes different rows prefer different filters.
  for (let i = 0; i < data.length; i++) data[i] = (i % 97) + Math.floor(next() * 40);
  const png = encodeRgbPng({ width, height, data });
  const { data: raw, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  assert.deepEqual(new Uint8Array(raw), data);
});

test('binary mask PNG is 8-bit grayscale 0/255; decodes to 0/1 or raw values', async () => {
  const mask = Uint8Array.of(0, 1, 1, 0, 0, 1);
  const png = encodeBinaryMaskPng(mask, 3, 2);
  const direct = fastPngDecode(png);
  assert.equal(direct.channels, 1);
  assert.equal(direct.depth, 8);
  assert.deepEqual([...direct.data], [0, 255, 255, 0, 0, 255]);
  assert.deepEqual([...decodeLabelPng(png, 'm.png').data], [0, 1, 1, 0, 0, 1]);
  assert.deepEqual([...decodeLabelPng(png, 'm.png', { grayscale: 'values' }).data], [0, 255, 255, 0, 0, 255]);
  const meta = await sharp(png).metadata();
  assert.equal(meta.channels, 1);
  assert.equal(meta.isPalette, false);
});

test('palette PNGs with bit depth 1, 2 and 4 unpack MSB-first, per row', async () => {
  const width = 5; // not a multiple of 8 / depth, so rows carry padding bits
  const height = 2;
  for (const depth of [1, 2, 4]) {
    const maxId = (1 << depth) - 1;
    const labels = randomLabels(width, height, maxId, depth);
    labels.data[0] = maxId;
    const rows: Uint8Array[] = [];
    for (let y = 0; y < height; y++) {
      const row = new Uint8Array(Math.ceil((width * depth) / 8));
      for (let x = 0; x < width; x++) {
        const bitOffset = x * depth;
        row[bitOffset >> 3] |= labels.data[y * width + x] << (8 - depth - (bitOffset & 7));
      }
      rows.push(row);
    }
    const png = buildPng({ width, height, bitDepth: depth, colorType: 3, rows, palette: DAVIS_PALETTE.subarray(0, 3 * (maxId + 1)) });
    assert.deepEqual(decodeLabelPng(png, `d${depth}.png`).data, labels.data, `depth ${depth}`);
    // libpng agrees on which colour each pixel has, so our packing in the fixture is right too.
    const rgb = await sharp(png).raw().toBuffer();
    for (let i = 0; i < labels.data.length; i++) assert.equal(rgb[3 * i], DAVIS_PALETTE[3 * labels.data[i]]);
  }
});

test('16-bit grayscale: binary by default, values only when they fit in 8 bits', () => {
  const row = (values: number[]) => {
    const out = new Uint8Array(values.length * 2);
    values.forEach((v, i) => {
      out[2 * i] = v >> 8;
      out[2 * i + 1] = v & 0xff;
    });
    return out;
  };
  const fits = buildPng({ width: 3, height: 1, bitDepth: 16, colorType: 0, rows: [row([0, 7, 255])] });
  assert.deepEqual([...decodeLabelPng(fits, 'a.png').data], [0, 1, 1]);
  assert.deepEqual([...decodeLabelPng(fits, 'a.png', { grayscale: 'values' }).data], [0, 7, 255]);
  const big = buildPng({ width: 3, height: 1, bitDepth: 16, colorType: 0, rows: [row([0, 65535, 1])] });
  assert.deepEqual([...decodeLabelPng(big, 'b.png').data], [0, 1, 1]);
  assertInputError(() => decodeLabelPng(big, 'b.png', { grayscale: 'values' }), 'b.png', /65535.*<= 255/);
});

test('RGB masks: clear error, or exact palette mapping with rgbPalette', () => {
  const ids = Uint8Array.of(0, 1, 2, 3, 1, 0);
  const rgb = new Uint8Array(ids.length * 3);
  ids.forEach((id, i) => {
    rgb.set(DAVIS_PALETTE.subarray(3 * id, 3 * id + 3), 3 * i);
  });
  const png = encodeRgbPng({ width: 3, height: 2, data: rgb });
  assertInputError(() => decodeLabelPng(png, 'rgb.png'), 'rgb.png', /mask is an RGB image, not an indexed palette or grayscale PNG/);
  assert.deepEqual(decodeLabelPng(png, 'rgb.png', { rgbPalette: DAVIS_PALETTE }).data, ids);
  // An anti-aliased edge colour (a blend of black and (128,0,0)) is not an object.
  rgb.set([100, 0, 0], 3 * 4);
  const blended = encodeRgbPng({ width: 3, height: 2, data: rgb });
  assertInputError(
    () => decodeLabelPng(blended, 'aa.png', { rgbPalette: DAVIS_PALETTE }),
    'aa.png',
    /\(100, 0, 0\) at pixel \(1, 1\) is not in the palette/,
  );
});

test('grayscale+alpha masks are rejected with a clear error', () => {
  const png = buildPng({ width: 2, height: 1, bitDepth: 8, colorType: 4, rows: [Uint8Array.of(255, 255, 0, 255)] });
  assertInputError(() => decodeLabelPng(png, 'la.png'), 'la.png', /grayscale\+alpha/);
});

test('truncated files, corrupt bytes and random data are InputErrors naming the file', () => {
  const png = encodePalettePng(randomLabels(20, 10, 5, 9));
  for (let cut = 0; cut < png.length; cut++) {
    assert.throws(
      () => decodeLabelPng(png.subarray(0, cut), 'cut.png'),
      (err: unknown) => err instanceof InputError && err.file === 'cut.png' && err.message.startsWith('cut.png: '),
      `prefix of ${cut} bytes`,
    );
  }
  const flipped = Uint8Array.from(png);
  flipped[60] ^= 0x40; // a byte of the PLTE data (signature 8 + IHDR 25 + PLTE header 8 = 41)
  assertInputError(() => decodeLabelPng(flipped, 'flip.png'), 'flip.png', /CRC mismatch/);
  const next = rng(42);
  const noise = Uint8Array.from({ length: 300 }, () => Math.floor(next() * 256));
  assertInputError(() => decodeLabelPng(noise, 'noise.png'), 'noise.png', /not a PNG file/);
  // A valid chunk structure whose header claims a huge image over a tiny IDAT is rejected
  // before anything is allocated.
  const forged = buildPng({ width: 60000, height: 60000, bitDepth: 8, colorType: 3, rows: [Uint8Array.of(0)], palette: DAVIS_PALETTE });
  assertInputError(() => decodeLabelPng(forged, 'huge.png'), 'huge.png', /larger than|cannot hold/);
  const forgedSmall = buildPng({ width: 4000, height: 4000, bitDepth: 8, colorType: 3, rows: [Uint8Array.of(0)], palette: DAVIS_PALETTE });
  assertInputError(() => decodeLabelPng(forgedSmall, 'forged.png'), 'forged.png', /cannot hold a 4000x4000 image/);
});

test('size mismatch, unknown ids and maximum id are reported against the frame', () => {
  const labels = { width: 640, height: 480, data: new Uint8Array(640 * 480) };
  assertInputError(
    () => validateLabels(labels, 'a/00000.png', { width: 854, height: 480 }),
    'a/00000.png',
    /mask is 640x480 but its frame is 854x480/,
  );
  labels.data[1000] = 3;
  labels.data[2000] = 1;
  validateLabels(labels, 'ok.png', { width: 640, height: 480, knownIds: new Set([1, 3]), maxObjectId: 3 });
  assertInputError(
    () => validateLabels(labels, 'b.png', { width: 640, height: 480, knownIds: new Set([1, 2]) }),
    'b.png',
    /palette index 3, which is not a known object \(known: 1, 2\)/,
  );
  assertInputError(
    () => validateLabels(labels, 'c.png', { width: 640, height: 480, maxObjectId: 2 }),
    'c.png',
    /object id 3, above the maximum 2/,
  );
});

test('splitObjects yields one 0/1 mask per present id in ascending order', () => {
  const labels = { width: 3, height: 2, data: Uint8Array.of(0, 5, 2, 2, 0, 5) };
  const masks = splitObjects(labels);
  assert.deepEqual([...masks.keys()], [2, 5]);
  assert.deepEqual([...(masks.get(2) as Uint8Array)], [0, 0, 1, 1, 0, 0]);
  assert.deepEqual([...(masks.get(5) as Uint8Array)], [0, 1, 0, 0, 0, 1]);
});

test('file helpers: label PNG and SA-V per-object layout round trip', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vprop-png-'));
  try {
    const labels = randomLabels(9, 5, 3, 11);
    const labelPath = join(dir, 'labels', '00003.png');
    await writeLabelPng(labelPath, labels);
    assert.deepEqual((await readLabelPng(labelPath)).data, labels.data);
    assert.deepEqual(await readdir(join(dir, 'labels')), ['00003.png'], 'no temporary files left behind');
    await assert.rejects(readLabelPng(join(dir, 'missing.png')), (err: unknown) => err instanceof InputError && /ENOENT/.test(err.message));

    const perObject = join(dir, 'sav');
    const written = await writePerObjectMasks(perObject, 7, labels, { objectIds: [1, 2, 3, 4] });
    // SA-V numbers object directories from 000: object id 1 lives in 000/.
    assert.deepEqual(await readdir(perObject), ['000', '001', '002', '003']);
    assert.equal(written[0], join(perObject, '000', '00007.png'));
    // Object 4 is absent from this frame but still gets an (empty) mask.
    const empty = decodeLabelPng(await readFile(join(perObject, '003', '00007.png')), 'empty');
    assert.ok(empty.data.every((v) => v === 0));
    const merged = await readPerObjectMasks(perObject, 7, 9, 5);
    assert.deepEqual(merged.data, labels.data);
    await assert.rejects(
      readPerObjectMasks(perObject, 8, 9, 5),
      (err: unknown) => err instanceof InputError && /00008\.png/.test(err.message),
    );
    await assert.rejects(
      readPerObjectMasks(perObject, 7, 10, 5),
      (err: unknown) => err instanceof InputError && /mask is 9x5 but its frame is 10x5/.test(err.message),
    );

    // Overlapping objects: the larger id wins.
    const overlap = join(dir, 'overlap');
    await writeFile(join(await mkdirp(join(overlap, '001')), '00000.png'), encodeBinaryMaskPng(Uint8Array.of(1, 1, 0), 3, 1));
    await writeFile(join(await mkdirp(join(overlap, '000')), '00000.png'), encodeBinaryMaskPng(Uint8Array.of(1, 0, 1), 3, 1));
    assert.deepEqual([...(await readPerObjectMasks(overlap, 0, 3, 1)).data], [2, 2, 1]);
    // Directories named by object id: 000 would be the background, which is an error.
    await assert.rejects(
      readPerObjectMasks(overlap, 0, 3, 1, { firstObjectDir: 1 }),
      (err: unknown) => err instanceof InputError && /maps to id 0/.test(err.message),
    );
    const byId = join(dir, 'by-id');
    await writePerObjectMasks(byId, 0, { width: 3, height: 1, data: Uint8Array.of(0, 2, 5) }, { firstObjectDir: 1 });
    assert.deepEqual(await readdir(byId), ['002', '005']);
    assert.deepEqual([...(await readPerObjectMasks(byId, 0, 3, 1, { firstObjectDir: 1 })).data], [0, 2, 5]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

async function mkdirp(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  return path;
}

const davisMask = sharedPath('davis/Annotations/480p/blackswan/00000.png');
test('real DAVIS-2016 annotation: 854x480 with values {0, 1}', { skip: davisMask.skip }, async () => {
  const labels = await readLabelPng(davisMask.path);
  assert.equal(labels.width, 854);
  assert.equal(labels.height, 480);
  const values = new Set(labels.data);
  assert.deepEqual([...values].sort(), [0, 1]);
  let foreground = 0;
  for (const v of labels.data) foreground += v;
  // The swan covers a sizeable but partial region of the first frame.
  assert.ok(foreground > 5000 && foreground < 854 * 480 * 0.5, `foreground ${foreground}`);
});
