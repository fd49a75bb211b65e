/**
 * Block codecs we run ourselves (NONE, RLE, ZIPS, ZIP: decode and, for ZIP(S), encode) and
 * structural checks of the chunks handed to three's decoders (PIZ, PXR24, B44, B44A, DWAA, DWAB).
 *
 * A raw block is, per line, per channel (sorted by name), `width` little-endian values.
 * RLE and ZIP(S) first split the raw bytes into even and odd positions (first half: bytes 0,2,4..;
 * second half: 1,3,5..) and then delta-code them (`d[i] = b[i] - b[i-1] + 128`, mod 256); ZIP(S)
 * then deflate the result into a zlib stream, RLE run-length codes it (a signed count byte: n < 0
 * copies -n literal bytes, n >= 0 repeats the next byte n+1 times).
 *
 * We decode the simple codecs ourselves rather than through three because every output is bounded
 * by the block's known size: three's RLE path grows a JavaScript array and its inflate grows its
 * buffer without limit, so a small corrupt file could exhaust memory there.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { type ExrChunk, type ExrCompression, type ExrPart, PIXEL_BYTES } from './exr-header.js';
import { checkThreeHuffman } from './exr-huffman-guard.js';

/**
 * A block decoded by {@link decodeOwnChunk}. When `split` is false, `bytes` is the raw block.
 * When true, it is the raw block's even-position bytes followed by its odd-position bytes (the
 * ZIP/RLE order once the predictor is undone): raw byte i is `bytes[i >> 1]` for even i and
 * `bytes[((n + 1) >> 1) + (i >> 1)]` for odd i. Readers index it directly rather than paying for
 * a re-interleaving pass over channels they may not want.
 */
export interface OwnBlock {
  bytes: Uint8Array;
  split: boolean;
}

/** Undo the ZIP/RLE delta coding in place. */
function unpredict(t: Uint8Array): Uint8Array {
  let p = t[0];
  for (let i = 1; i < t.length; i++) {
    p = (p + t[i] - 128) & 0xff;
    t[i] = p;
  }
  return t;
}

/** The ZIP/RLE preprocessing: split even/odd bytes, then delta code. */
function deinterleaveAndPredict(raw: Uint8Array): Uint8Array {
  const n = raw.length;
  const t = new Uint8Array(n);
  const half = (n + 1) >> 1;
  for (let i = 0, k = 0; i < n; k++) {
    t[k] = raw[i++];
    if (i < n) t[half + k] = raw[i++];
  }
  for (let i = n - 1; i > 0; i--) t[i] = t[i] - t[i - 1] + 128;
  return t;
}

function rleDecode(src: Uint8Array, rawSize: number, fail: (p: string) => never): Uint8Array {
  const out = new Uint8Array(rawSize);
  let o = 0;
  let i = 0;
  while (i < src.length) {
    const n = (src[i++] << 24) >> 24;
    if (n < 0) {
      const count = -n;
      if (i + count > src.length) fail('RLE literal run reads past the end of the chunk');
      if (o + count > rawSize) fail('RLE data expands beyond the block size');
      out.set(src.subarray(i, i + count), o);
      i += count;
      o += count;
    } else {
      if (i >= src.length) fail('RLE repeat run is missing its value byte');
      if (o + n + 1 > rawSize) fail('RLE data expands beyond the block size');
      out.fill(src[i++], o, o + n + 1);
      o += n + 1;
    }
  }
  if (o !== rawSize) fail(`RLE data yields ${o} bytes, expected ${rawSize}`);
  return out;
}

function inflateExact(src: Uint8Array, size: number, what: string, fail: (p: string) => never): Uint8Array {
  let out: Uint8Array;
  try {
    // maxOutputLength makes a decompression bomb fail fast instead of allocating gigabytes.
    out = inflateSync(src, { maxOutputLength: Math.max(1, size) });
  } catch (err) {
    fail(`${what}: zlib data is corrupt or larger than expected (${(err as Error).message})`);
  }
  if (out.length !== size) fail(`${what}: zlib data yields ${out.length} bytes, expected ${size}`);
  return out;
}

/** Whether we decode this compression ourselves (else three does, after {@link checkThreeChunk}). */
export function isOwnCodec(c: ExrCompression): boolean {
  return c === 'none' || c === 'rle' || c === 'zips' || c === 'zip';
}

/**
 * One chunk's block for the codecs we implement. `payload` is the chunk's data; a payload as long
 * as the raw block is stored uncompressed.
 */
export function decodeOwnChunk(compression: ExrCompression, payload: Uint8Array, rawSize: number, fail: (p: string) => never): OwnBlock {
  if (payload.length === rawSize) return { bytes: payload, split: false };
  switch (compression) {
    case 'rle':
      return { bytes: unpredict(rleDecode(payload, rawSize, fail)), split: true };
    case 'zip':
    case 'zips': {
      const z = inflateExact(payload, rawSize, 'ZIP chunk', fail);
      // A plain Uint8Array view keeps the hot loops monomorphic (inflate returns a Buffer).
      return { bytes: unpredict(new Uint8Array(z.buffer, z.byteOffset, z.length)), split: true };
    }
    default:
      return fail(`compression ${compression} is not decoded here`);
  }
}

/** Compress one raw block with ZIP/ZIPS; returns the raw block when compression does not pay. */
export function encodeZipChunk(raw: Uint8Array): Uint8Array {
  const z = deflateSync(deinterleaveAndPredict(raw), { level: 4 }); // OpenEXR's default level
  return z.length < raw.length ? z : raw;
}

/** Exact output length of three's decodeRunLength on `src` (-1 if it would read past the end). */
function threeRleLength(src: Uint8Array): number {
  let size = src.length;
  let p = 0;
  let out = 0;
  while (size > 0) {
    if (p >= src.length) return -1;
    const l = (src[p++] << 24) >> 24;
    if (l < 0) {
      size -= -l + 1;
      p += -l;
      out += -l;
    } else {
      size -= 2;
      p++;
      out += l + 1;
    }
    if (p > src.length) return -1;
  }
  return out;
}

/**
 * Validate a compressed chunk bound for three's decoder, so that it cannot loop for long, read
 * unbounded input, or allocate more than the block needs, and return the payload to give three
 * (the same bytes, except for DWA chunks with deflated AC data, which are re-packed; see below).
 * `payload` must be compressed (shorter than the raw block). Layouts are those of OpenEXR:
 *
 * - PIZ: minNonZero u16, maxNonZero u16, bitmap[max-min+1] (if min <= max), length u32, Huffman
 *   block of `length` bytes (dry-run by exr-huffman-guard.ts).
 * - PXR24: one zlib stream of, per line and channel, the bytes of each value split into planes
 *   (half: 2, float: 3 (low 8 bits dropped), uint: 4) with `width` bytes per plane.
 * - B44/B44A: per channel, half channels as 4x4 blocks of 14 bytes (B44A: 3 when flat), other
 *   channels raw.
 * - DWAA/DWAB: eleven u64 fields (version, unknown raw/packed size, AC packed size, DC packed
 *   size, RLE packed/unpacked/raw size, AC count, DC count, AC mode), a rule table (u16 total
 *   size, then `name\0 u8 u8` entries), then unknown-channel zlib data, AC data (static Huffman,
 *   or zlib in tiled DWAA), DC zlib data, RLE zlib data.
 */
export function checkThreeChunk(part: ExrPart, chunk: ExrChunk, payload: Uint8Array, fail: (p: string) => never): Uint8Array {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const n = payload.length;
  const w = chunk.width;
  const lines = chunk.lines;
  switch (part.compression) {
    case 'piz': {
      if (n < 4) fail('PIZ chunk too short');
      const min = v.getUint16(0, true);
      const max = v.getUint16(2, true);
      if (max >= 8192) fail(`PIZ bitmap range ${min}..${max} exceeds 8192 bytes`);
      let p = 4 + (min <= max ? max - min + 1 : 0);
      if (p + 4 > n) fail('PIZ chunk too short for its bitmap');
      const length = v.getUint32(p, true);
      p += 4;
      if (length > n - p) fail(`PIZ Huffman block of ${length} bytes overruns the chunk (${n - p} left)`);
      // three decodes PIZ into one u16 per half and two per float: rawSize / 2 values.
      const problem = checkThreeHuffman(payload, p, length, chunk.rawSize / 2);
      if (problem) fail(`PIZ chunk: ${problem}`);
      return payload;
    }
    case 'pxr24': {
      let size = 0;
      for (const ch of part.channels) size += w * lines * (ch.type === 'float' ? 3 : PIXEL_BYTES[ch.type]);
      inflateExact(payload, size, 'PXR24 chunk', fail);
      return payload;
    }
    case 'b44':
    case 'b44a': {
      let p = 0;
      for (const ch of part.channels) {
        if (ch.type !== 'half') {
          p += w * lines * PIXEL_BYTES[ch.type];
          continue;
        }
        const blocks = Math.ceil(w / 4) * Math.ceil(lines / 4);
        for (let b = 0; b < blocks && p <= n; b++) {
          // Same flat-block test as three's decoder (byte 2 >= 52), so we count what it consumes.
          p += p + 2 < n && part.compression === 'b44a' && payload[p + 2] >= 52 ? 3 : 14;
        }
      }
      if (p !== n) fail(`B44 chunk has ${n} bytes but its blocks need ${p}`);
      return payload;
    }
    case 'dwaa':
    case 'dwab':
      return checkDwaChunk(part, chunk, payload, fail);
    default:
      return fail(`compression ${part.compression} is not decoded by three here`);
  }
}

function checkDwaChunk(part: ExrPart, chunk: ExrChunk, payload: Uint8Array, fail: (p: string) => never): Uint8Array {
  const v = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const n = payload.length;
  if (n < 90) fail('DWA chunk shorter than its header');
  const sizes: number[] = [];
  for (let i = 0; i < 11; i++) {
    const lo = v.getUint32(i * 8, true);
    const hi = v.getUint32(i * 8 + 4, true);
    if (hi !== 0 || lo > 0x7fffffff) fail(`DWA header field ${i} is out of range`);
    sizes.push(lo);
  }
  const [version, unknownRaw, unknownPacked, acPacked, dcPacked, rlePacked, rleUnpacked, rleRaw, acCount, dcCount, acMode] = sizes;
  if (version !== 2) fail(`DWA version ${version} is not supported (expected 2)`);
  if (unknownRaw !== 0 || unknownPacked !== 0) {
    fail('DWA chunk carries channels outside the R,G,B,A,Y set, which the decoder cannot read');
  }
  if (acMode > 1) fail(`DWA AC compression mode ${acMode} is unknown`);
  // Rule table, walked exactly as three walks it (its string reader never stops at a bound).
  let p = 88;
  let ruleSize = v.getUint16(p, true) - 2;
  p += 2;
  while (ruleSize > 0) {
    const startName = p;
    while (p < n && payload[p] !== 0) {
      if (payload[p] >= 0x80) fail('DWA channel rule name is not ASCII');
      p++;
    }
    if (p >= n) fail('DWA channel rule name runs past the chunk');
    ruleSize -= p - startName + 3;
    p += 3; // NUL, packed value, type
  }
  if (ruleSize !== 0 || p > n) fail('DWA channel rule table is inconsistent');
  if (p + acPacked + dcPacked + rlePacked > n) fail('DWA section sizes overrun the chunk');
  const blocks = Math.ceil(chunk.width / 8) * Math.ceil(chunk.lines / 8) * part.channels.length;
  if (acCount > blocks * 63 || dcCount > blocks) fail('DWA coefficient counts exceed the block geometry');
  if (rleRaw > chunk.rawSize || rleUnpacked > 2 * rleRaw + 16) fail('DWA RLE sizes exceed the block size');
  let ac = false;
  if (acPacked > 0) {
    if (acMode === 0) {
      const problem = checkThreeHuffman(payload, p, acPacked, acCount);
      if (problem) fail(`DWA AC data: ${problem}`);
    } else {
      inflateExact(payload.subarray(p, p + acPacked), acCount * 2, 'DWA AC data', fail);
      ac = true;
    }
  }
  p += acPacked;
  if (dcPacked > 0) inflateExact(payload.subarray(p, p + dcPacked), dcCount * 2, 'DWA DC data', fail);
  p += dcPacked;
  if (rleRaw > 0) {
    const rle = inflateExact(payload.subarray(p, p + rlePacked), rleUnpacked, 'DWA RLE data', fail);
    if (threeRleLength(rle) !== rleRaw) fail(`DWA RLE data does not expand to ${rleRaw} bytes`);
  }
  if (!ac) return payload;
  // three reads deflated AC data (tiled DWAA) as a section of `acCount` bytes rather than
  // `acPacked`, but uses the count for nothing else in that mode (the AC values' number comes
  // from the inflated data). Writing `acPacked` into the count field makes it read exactly the
  // section, so its offsets land on the DC data.
  const out = new Uint8Array(payload); // a copy: never write into the caller's file bytes
  new DataView(out.buffer).setUint32(8 * 8, acPacked, true);
  return out;
}
