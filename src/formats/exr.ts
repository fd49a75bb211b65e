/**
 * OpenEXR reading and writing.
 *
 * Images are planar: `data` is a Float32Array of `channels.length * height * width` values,
 * channel-major (C x H x W), `data[(c * height + y) * width + x]`, top row first, x to the right.
 * Read images cover the part's data window (`dataWindow` gives its placement in the display
 * window). Values are exactly what the file stores: half and float samples are widened exactly,
 * uint samples become the nearest float32 (exact below 2^24).
 *
 * Reading: we parse and validate the whole container ourselves (exr-header.ts: magic, version
 * flags, every header, offset tables, every chunk header and size), decode NONE, RLE, ZIPS and ZIP
 * blocks ourselves with bounded buffers, and hand PIZ, PXR24, B44, B44A, DWAA and DWAB blocks to
 * three's EXRLoader through a normalised single-part file (exr-three.ts), after checking the
 * codec-level structures that three trusts (exr-codec.ts, exr-huffman-guard.ts). Every failure,
 * including anything three throws, is an InputError naming the file.
 *
 * Supported: scanline and tiled parts (level 0 of mip- and rip-mapped ones), single- and
 * multi-part files, any channel names, half/float everywhere and uint with NONE/RLE/ZIPS/ZIP.
 * Refused with a clear error: deep data, subsampled channels, uint channels with the codecs three
 * decodes, mixed half/float channels with PIZ or DWA, and DWA parts holding channels other than
 * R, G, B, A, Y (three's DWA decoder handles only one colour layer).
 *
 * Why not three alone: its output is R,G,B,A only (alpha filled with 1 when absent; Y expanded to
 * grey; every other channel, e.g. Z or motion vectors, dropped), rows come out bottom-up, it reads
 * tiled parts of multi-part files as scanlines, it cannot read uint, and on corrupt input it can
 * loop forever (its string reader and Huffman decoder) or grow buffers without limit (its RLE and
 * inflate).
 *
 * Writing: scanline, INCREASING_Y, channels in sorted order, half or float, NONE/ZIPS/ZIP.
 */
import { Buffer } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { InputError } from '../core/errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { checkThreeChunk, decodeOwnChunk, encodeZipChunk, isOwnCodec } from './exr-codec.js';
import { floatBitsToHalf, halfTable } from './exr-half.js';
import {
  EXR_MAGIC,
  type ExrBox,
  type ExrCompression,
  type ExrPart,
  type ExrPixelType,
  locateChunks,
  PIXEL_BYTES,
  parseExrStructure,
} from './exr-header.js';
import { planThreePasses, runThreePass } from './exr-three.js';

export { floatToHalf, halfToFloat } from './exr-half.js';
export type { ExrBox, ExrChannelInfo, ExrCompression, ExrPart, ExrPixelType, ExrTiles } from './exr-header.js';
export { MAX_SAMPLES } from './exr-header.js';

/** A planar float image: `data[(c * height + y) * width + x]` for channel `channels[c]`. */
export interface ExrImage {
  width: number;
  height: number;
  channels: string[];
  data: Float32Array;
}

/** A decoded part: the image plus where it came from. */
export interface ExrDecoded extends ExrImage {
  /** Index of the part read (0 in single-part files). */
  part: number;
  compression: ExrCompression;
  /** Stored pixel type of each returned channel. */
  pixelTypes: ExrPixelType[];
  dataWindow: ExrBox;
  displayWindow: ExrBox;
}

export interface ExrReadOptions {
  /** Part index or `name` attribute. Default: the first part holding the requested channels. */
  part?: number | string;
  /**
   * Channel names to read, in the order wanted. Default: R, G, B (and A if present) of the part,
   * else Y (and A if present).
   */
  channels?: string[];
}

/** Header summary of a file, for inspection (no pixel data is decoded). */
export interface ExrInfo {
  multiPart: boolean;
  tiled: boolean;
  longNames: boolean;
  parts: ExrPart[];
}

function defaultChannels(part: ExrPart): string[] | undefined {
  const has = new Set(part.channels.map((c) => c.name));
  const alpha = has.has('A') ? ['A'] : [];
  if (has.has('R') && has.has('G') && has.has('B')) return ['R', 'G', 'B', ...alpha];
  if (has.has('Y')) return ['Y', ...alpha];
  return undefined;
}

function describeParts(parts: ExrPart[]): string {
  const list = (p: ExrPart) => {
    const names = p.channels.map((c) => c.name);
    return names.length > 24 ? `${names.slice(0, 24).join(', ')}, ... (${names.length} in all)` : names.join(', ');
  };
  return parts.length === 1
    ? `the file has channels ${list(parts[0])}`
    : parts.map((p) => `part ${p.index}${p.name ? ` "${p.name}"` : ''}: ${list(p)}`).join('; ');
}

/** Parse the headers of an in-memory EXR file (validated as for decoding, pixels untouched). */
export function inspectExr(bytes: Uint8Array, file: string): ExrInfo {
  const s = parseExrStructure(bytes, file);
  return { multiPart: s.multiPart, tiled: s.tiled, longNames: s.longNames, parts: s.parts };
}

/** {@link inspectExr} on a file. */
export async function readExrInfo(path: string): Promise<ExrInfo> {
  return inspectExr(await readBytes(path), path);
}

/**
 * Decode one part of an in-memory EXR file into a planar float image (see the module comment for
 * the layout). `file` names the source in errors. Throws InputError on any invalid or unsupported
 * input.
 */
export function decodeExr(bytes: Uint8Array, file: string, opts: ExrReadOptions = {}): ExrDecoded {
  try {
    return decodeValidated(bytes, file, opts);
  } catch (err) {
    if (err instanceof InputError) throw err;
    // Safety net for the reader contract: whatever slips past validation (a RangeError from a
    // typed array, an allocation failure) still reaches the caller as "this file is bad".
    const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new InputError(file, `could not be decoded (${msg})`, { cause: err });
  }
}

function decodeValidated(bytes: Uint8Array, file: string, opts: ExrReadOptions): ExrDecoded {
  const s = parseExrStructure(bytes, file);
  let part: ExrPart | undefined;
  if (typeof opts.part === 'number') {
    part = s.parts[opts.part];
    if (!part) throw new InputError(file, `part ${opts.part} requested but the file has ${s.parts.length} part(s)`);
  } else if (typeof opts.part === 'string') {
    part = s.parts.find((p) => p.name === opts.part);
    if (!part) throw new InputError(file, `no part named "${opts.part}"; ${describeParts(s.parts)}`);
  } else if (opts.channels) {
    const want = opts.channels;
    part = s.parts.find((p) => want.every((n) => p.channels.some((c) => c.name === n)));
    if (!part) throw new InputError(file, `no part holds all of channels ${want.join(', ')}; ${describeParts(s.parts)}`);
  } else {
    part = s.parts.find((p) => defaultChannels(p) !== undefined);
    if (!part) throw new InputError(file, `no part has R,G,B or Y channels; ${describeParts(s.parts)}`);
  }
  const where = s.multiPart ? `part ${part.index}: ` : '';
  const fail = (problem: string): never => {
    throw new InputError(file, `${where}${problem}`);
  };
  const names = opts.channels ?? defaultChannels(part) ?? fail(`no R,G,B or Y channels; ${describeParts([part])}`);
  if (names.length === 0) fail('no channels requested');
  if (new Set(names).size !== names.length) fail(`channel list ${names.join(', ')} repeats a name`);
  const byName = new Map(part.channels.map((c) => [c.name, c]));
  for (const n of names) if (!byName.has(n)) fail(`no channel "${n}"; ${describeParts([part])}`);

  const chunks = locateChunks(s, part.index);
  const { width, height } = part;
  const allocate = () => {
    const data = new Float32Array(names.length * width * height);
    const planes = new Map(names.map((n, i) => [n, data.subarray(i * width * height, (i + 1) * width * height)]));
    return { data, planes };
  };
  let data: Float32Array;
  if (isOwnCodec(part.compression)) {
    const out = allocate();
    decodeOwn(bytes, part, chunks, out.planes, fail);
    data = out.data;
  } else {
    const planned = planThreePasses(part, names);
    const passes = typeof planned === 'string' ? fail(planned) : planned;
    // Check every chunk before allocating the output, so a corrupt file fails without it.
    const payloads = chunks.map((c) => {
      const payload = bytes.subarray(c.dataOffset, c.dataOffset + c.dataSize);
      if (c.dataSize === c.rawSize) return payload; // stored raw
      return checkThreeChunk(part, c, payload, (p) => fail(`chunk at offset ${c.start}: ${p}`));
    });
    const out = allocate();
    for (const pass of passes) {
      try {
        runThreePass(part, chunks, payloads, pass, out.planes);
      } catch (err) {
        // three reports corrupt data by throwing anything (Error, RangeError from a DataView,
        // TypeError from a missing table entry); all of it means "this file is broken".
        const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
        throw new InputError(file, `${where}${part.compression} data could not be decoded (${msg})`, { cause: err });
      }
    }
    data = out.data;
  }
  return {
    width,
    height,
    channels: [...names],
    data,
    part: part.index,
    compression: part.compression,
    pixelTypes: names.map((n) => byName.get(n)!.type),
    dataWindow: { ...part.dataWindow },
    displayWindow: { ...part.displayWindow },
  };
}

/** Scatter our own decoded raw blocks into the requested planes. */
function decodeOwn(
  bytes: Uint8Array,
  part: ExrPart,
  chunks: ReturnType<typeof locateChunks>,
  planes: Map<string, Float32Array>,
  fail: (p: string) => never,
): void {
  const half = halfTable();
  const width = part.width;
  // Byte offset of each channel within one line of a block, per pixel of block width.
  const offsets = new Map<string, number>();
  let perPixel = 0;
  for (const ch of part.channels) {
    offsets.set(ch.name, perPixel);
    perPixel += PIXEL_BYTES[ch.type];
  }
  const wanted = part.channels.filter((ch) => planes.has(ch.name));
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  for (const c of chunks) {
    const payload = bytes.subarray(c.dataOffset, c.dataOffset + c.dataSize);
    const block = decodeOwnChunk(part.compression, payload, c.rawSize, (p) => fail(`chunk at offset ${c.start}: ${p}`));
    const raw = block.bytes;
    // Split blocks keep even bytes first, odd bytes from `odd` on; samples start at even offsets,
    // so sample byte pairs (0,1) and (2,3) sit at [e], [odd + e] and [e + 1], [odd + e + 1].
    const odd = (raw.length + 1) >> 1;
    const lineBytes = c.width * perPixel;
    for (let ly = 0; ly < c.lines; ly++) {
      const rowStart = (c.y + ly) * width + c.x;
      for (const ch of wanted) {
        const plane = planes.get(ch.name)!;
        const o = ly * lineBytes + offsets.get(ch.name)! * c.width;
        if (block.split) {
          let e = o >> 1;
          if (ch.type === 'half') {
            for (let x = 0; x < c.width; x++, e++) plane[rowStart + x] = half[raw[e] | (raw[odd + e] << 8)];
          } else {
            for (let x = 0; x < c.width; x++, e += 2) {
              bits[0] = raw[e] | (raw[odd + e] << 8) | (raw[e + 1] << 16) | (raw[odd + e + 1] << 24);
              plane[rowStart + x] = ch.type === 'float' ? asFloat[0] : bits[0];
            }
          }
        } else {
          let p = o;
          if (ch.type === 'half') {
            for (let x = 0; x < c.width; x++, p += 2) plane[rowStart + x] = half[raw[p] | (raw[p + 1] << 8)];
          } else {
            for (let x = 0; x < c.width; x++, p += 4) {
              bits[0] = raw[p] | (raw[p + 1] << 8) | (raw[p + 2] << 16) | (raw[p + 3] << 24);
              plane[rowStart + x] = ch.type === 'float' ? asFloat[0] : bits[0];
            }
          }
        }
      }
    }
  }
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(path, `cannot read file (${e.code ?? e.message})`, { cause: err });
  }
}

/** Read and decode an EXR file; see {@link decodeExr}. */
export async function readExr(path: string, opts: ExrReadOptions = {}): Promise<ExrDecoded> {
  return decodeExr(await readBytes(path), path, opts);
}

/**
 * Read the named channels (e.g. `['forward.left.u', 'forward.left.v']`) from whichever part holds
 * all of them, or from `opts.part`. Works for every supported compression; see the module comment.
 */
export async function readExrChannels(path: string, names: string[], opts: Omit<ExrReadOptions, 'channels'> = {}): Promise<ExrDecoded> {
  return decodeExr(await readBytes(path), path, { ...opts, channels: names });
}

/**
 * Interleaved RGB (H x W x 3, `out[(y * width + x) * 3 + c]`) from a planar image holding R, G, B
 * (any order, other channels ignored) or Y (copied to all three).
 */
export function exrToInterleavedRgb(image: ExrImage): Float32Array {
  const { width, height, channels, data } = image;
  const n = width * height;
  let idx = ['R', 'G', 'B'].map((c) => channels.indexOf(c));
  if (idx.some((i) => i < 0)) {
    const y = channels.indexOf('Y');
    if (y < 0) throw new Error(`image has neither R,G,B nor Y channels (has ${channels.join(', ')})`);
    idx = [y, y, y];
  }
  const out = new Float32Array(n * 3);
  for (let c = 0; c < 3; c++) {
    const base = idx[c] * n;
    for (let i = 0; i < n; i++) out[i * 3 + c] = data[base + i];
  }
  return out;
}

export interface ExrWriteOptions {
  /** Stored sample type. Default 'half'. */
  type?: 'half' | 'float';
  /** Default 'zip'. */
  compression?: 'none' | 'zip' | 'zips';
}

/**
 * Encode a planar image as a single-part scanline OpenEXR file (INCREASING_Y, data window and
 * display window (0,0)-(width-1,height-1), channels stored in sorted name order as the format
 * requires). Half samples are rounded to nearest even; overflow becomes infinity.
 */
export function encodeExr(image: ExrImage, opts: ExrWriteOptions = {}): Uint8Array {
  const type = opts.type ?? 'half';
  const compression = opts.compression ?? 'zip';
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodeExr: invalid size ${width}x${height}`);
  }
  if (type !== 'half' && type !== 'float') throw new RangeError(`encodeExr: unknown sample type ${String(type)}`);
  if (!['none', 'zip', 'zips'].includes(compression)) {
    throw new RangeError(`encodeExr: unsupported compression ${String(compression)}`);
  }
  if (channels.length === 0) throw new RangeError('encodeExr: no channels');
  if (data.length !== channels.length * width * height) {
    throw new RangeError(`encodeExr: data has ${data.length} values, expected ${channels.length}x${height}x${width}`);
  }
  const enc = new TextEncoder();
  const encoded = channels.map((n) => enc.encode(n));
  for (let i = 0; i < channels.length; i++) {
    const b = encoded[i];
    if (b.length === 0 || b.length > 255 || b.includes(0)) throw new RangeError(`encodeExr: invalid channel name "${channels[i]}"`);
  }
  if (new Set(channels).size !== channels.length) throw new RangeError('encodeExr: duplicate channel names');
  // Sorted by UTF-8 bytes (strcmp), the order of both the channel list and the pixel data.
  const order = channels.map((_, i) => i).sort((a, b) => Buffer.compare(encoded[a], encoded[b]));
  const longNames = encoded.some((b) => b.length > 31);

  const head: number[] = [];
  const u8 = (v: number) => head.push(v & 0xff);
  const i32 = (v: number) => {
    u8(v);
    u8(v >> 8);
    u8(v >> 16);
    u8(v >> 24);
  };
  const bytes = (b: Uint8Array) => {
    for (const x of b) u8(x);
  };
  const str = (s: string) => {
    bytes(enc.encode(s));
    u8(0);
  };
  const f32 = (v: number) => bytes(new Uint8Array(new Float32Array([v]).buffer));
  i32(EXR_MAGIC);
  i32(2 | (longNames ? 0x400 : 0));
  str('channels');
  str('chlist');
  i32(order.reduce((s, i) => s + encoded[i].length + 1 + 16, 1));
  for (const i of order) {
    bytes(encoded[i]);
    u8(0);
    i32(type === 'half' ? 1 : 2);
    i32(0); // pLinear + 3 reserved bytes
    i32(1);
    i32(1);
  }
  u8(0);
  const compressionId = { none: 0, zips: 2, zip: 3 }[compression];
  str('compression');
  str('compression');
  i32(1);
  u8(compressionId);
  for (const name of ['dataWindow', 'displayWindow']) {
    str(name);
    str('box2i');
    i32(16);
    i32(0);
    i32(0);
    i32(width - 1);
    i32(height - 1);
  }
  str('lineOrder');
  str('lineOrder');
  i32(1);
  u8(0);
  str('pixelAspectRatio');
  str('float');
  i32(4);
  f32(1);
  str('screenWindowCenter');
  str('v2f');
  i32(8);
  f32(0);
  f32(0);
  str('screenWindowWidth');
  str('float');
  i32(4);
  f32(1);
  u8(0);

  const lpb = compression === 'zip' ? 16 : 1;
  const blockCount = Math.ceil(height / lpb);
  const sampleBytes = type === 'half' ? 2 : 4;
  const chunks: Uint8Array[] = [];
  // Float32Array offsets are always 4-aligned, so the same memory viewed as bit patterns.
  const bitsOf = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let b = 0; b < blockCount; b++) {
    const y0 = b * lpb;
    const lines = Math.min(lpb, height - y0);
    const raw = new Uint8Array(lines * width * channels.length * sampleBytes);
    const view = new DataView(raw.buffer);
    let o = 0;
    for (let ly = 0; ly < lines; ly++) {
      for (const c of order) {
        const base = (c * height + y0 + ly) * width;
        if (type === 'half') {
          for (let x = 0; x < width; x++, o += 2) view.setUint16(o, floatBitsToHalf(bitsOf[base + x]), true);
        } else {
          for (let x = 0; x < width; x++, o += 4) view.setUint32(o, bitsOf[base + x], true);
        }
      }
    }
    const payload = compression === 'none' ? raw : encodeZipChunk(raw);
    const chunk = new Uint8Array(8 + payload.length);
    const cv = new DataView(chunk.buffer);
    cv.setInt32(0, y0, true);
    cv.setInt32(4, payload.length, true);
    chunk.set(payload, 8);
    chunks.push(chunk);
  }
  const tableAt = head.length;
  const total = tableAt + 8 * blockCount + chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(total);
  out.set(head, 0);
  const ov = new DataView(out.buffer);
  let p = tableAt + 8 * blockCount;
  chunks.forEach((c, i) => {
    ov.setBigUint64(tableAt + 8 * i, BigInt(p), true);
    out.set(c, p);
    p += c.length;
  });
  return out;
}

/** Encode with {@link encodeExr} and write atomically (temporary sibling + rename). */
export async function writeExr(path: string, image: ExrImage, opts: ExrWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeExr(image, opts));
}
