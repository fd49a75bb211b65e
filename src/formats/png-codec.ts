/**
 * The pure part of label PNGs (no Node module: runs in browsers and workers): the DAVIS palette,
 * the chunk writer and encoders (deflate from `fflate` unless the caller passes another, as the
 * Node module png.ts does with `node:zlib`), the checked decoder, splitting into per-object masks
 * and validation. File I/O lives in png.ts, which re-exports all of this.
 */
import { decode as decodePngWithFastPng } from 'fast-png';
import { zlibSync } from 'fflate';
import { InputError } from '../core/errors.js';
import type { LabelImage, RgbFrame } from '../core/types.js';

/** zlib-format deflate of PNG image data. */
export type PngDeflate = (data: Uint8Array) => Uint8Array;

const defaultDeflate: PngDeflate = (data) => zlibSync(data, { level: 6 });

// ---------------------------------------------------------------------------------------------
// Palette

/**
 * The DAVIS / PASCAL VOC palette: 256 entries, `DAVIS_PALETTE[3 * i + c]` is channel c (R, G, B)
 * of index i. Built from the bits of i: bit 0 of each 3-bit group goes to R, bit 1 to G, bit 2
 * to B, most significant output bit first. 0 = black, 1 = (128,0,0), 2 = (0,128,0), ...
 */
export const DAVIS_PALETTE: Uint8Array = buildVocPalette();

function buildVocPalette(): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (let index = 0; index < 256; index++) {
    let bits = index;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let j = 0; j < 8; j++) {
      r |= (bits & 1) << (7 - j);
      g |= ((bits >> 1) & 1) << (7 - j);
      b |= ((bits >> 2) & 1) << (7 - j);
      bits >>= 3;
    }
    palette[3 * index] = r;
    palette[3 * index + 1] = g;
    palette[3 * index + 2] = b;
  }
  return palette;
}

// ---------------------------------------------------------------------------------------------
// Low-level PNG writing

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** Table for the PNG / zlib CRC-32 (polynomial 0xEDB88320); `zlib.crc32` needs Node >= 20.15. */
const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `bytes[start, end)` as used in PNG chunks. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One chunk: 4-byte big-endian length, 4-byte type, data, CRC-32 over type + data. */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const chunk = new Uint8Array(12 + data.length);
  const view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) chunk[4 + i] = type.charCodeAt(i);
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk, 4, 8 + data.length));
  return chunk;
}

export type WritableColorType = 0 | 2 | 3;

export interface PngWriteSpec {
  width: number;
  height: number;
  /** 0 grayscale, 2 RGB, 3 palette; always 8 bits per sample. */
  colorType: WritableColorType;
  /** Row-major samples, `channels` bytes per pixel (1 for types 0 and 3, 3 for type 2). */
  samples: Uint8Array;
  /** Type 3 only: PLTE entries, 3 bytes each. */
  palette?: Uint8Array;
}

/**
 * Encode an 8-bit PNG. Label images (types 0 and 3) use filter 0 on every row: libpng's own
 * advice for palette images, and runs of equal ids deflate well unfiltered. RGB rows pick the
 * filter with the smallest sum of absolute signed residuals (the libpng heuristic).
 */
export function encodePng8(spec: PngWriteSpec, deflate: PngDeflate = defaultDeflate): Uint8Array {
  const { width, height, colorType, samples } = spec;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`PNG size must be positive integers, got ${width}x${height}`);
  }
  const channels = colorType === 2 ? 3 : 1;
  const rowBytes = width * channels;
  if (samples.length !== rowBytes * height) {
    throw new RangeError(`expected ${rowBytes * height} samples for ${width}x${height}x${channels}, got ${samples.length}`);
  }
  const filtered = new Uint8Array((rowBytes + 1) * height);
  if (colorType === 2) {
    filterRowsAdaptive(samples, filtered, rowBytes, height, channels);
  } else {
    for (let y = 0; y < height; y++) {
      filtered[y * (rowBytes + 1)] = 0;
      filtered.set(samples.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
    }
  }
  const header = new Uint8Array(13);
  const headerView = new DataView(header.buffer);
  headerView.setUint32(0, width);
  headerView.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = colorType;
  header[10] = 0; // compression: deflate
  header[11] = 0; // filter method: adaptive
  header[12] = 0; // no interlace
  const chunks: Uint8Array[] = [PNG_SIGNATURE, pngChunk('IHDR', header)];
  if (colorType === 3) {
    if (!spec.palette) throw new RangeError('palette PNG needs a palette');
    chunks.push(pngChunk('PLTE', spec.palette));
  }
  chunks.push(pngChunk('IDAT', deflate(filtered)));
  chunks.push(pngChunk('IEND', new Uint8Array(0)));
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Filter each row with the PNG filter (0..4) minimising the sum of |signed residual|. */
function filterRowsAdaptive(samples: Uint8Array, out: Uint8Array, rowBytes: number, height: number, bytesPerPixel: number): void {
  const candidates = Array.from({ length: 5 }, () => new Uint8Array(rowBytes));
  const zeroRow = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = samples.subarray(y * rowBytes, (y + 1) * rowBytes);
    const above = y > 0 ? samples.subarray((y - 1) * rowBytes, y * rowBytes) : zeroRow;
    let bestFilter = 0;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let filter = 0; filter < 5; filter++) {
      const residual = candidates[filter];
      let score = 0;
      for (let i = 0; i < rowBytes; i++) {
        const left = i >= bytesPerPixel ? row[i - bytesPerPixel] : 0;
        const up = above[i];
        const upLeft = i >= bytesPerPixel ? above[i - bytesPerPixel] : 0;
        let predicted: number;
        switch (filter) {
          case 0:
            predicted = 0;
            break;
          case 1:
            predicted = left;
            break;
          case 2:
            predicted = up;
            break;
          case 3:
            predicted = (left + up) >> 1;
            break;
          default:
            predicted = paeth(left, up, upLeft);
        }
        const value = (row[i] - predicted) & 0xff;
        residual[i] = value;
        score += value < 128 ? value : 256 - value;
      }
      if (score < bestScore) {
        bestScore = score;
        bestFilter = filter;
      }
    }
    out[y * (rowBytes + 1)] = bestFilter;
    out.set(candidates[bestFilter], y * (rowBytes + 1) + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Encoders

/**
 * Encode a label image as an 8-bit indexed-palette PNG (colour type 3): pixel value = object id.
 * The PLTE chunk holds the first `paletteSize` entries of `palette` (default: all of them, 256
 * for the DAVIS palette); it must cover the largest id in the image.
 *
 * @param palette 3 bytes (R, G, B) per entry, at most 256 entries.
 */
export function encodePalettePng(
  labels: LabelImage,
  palette: Uint8Array = DAVIS_PALETTE,
  opts: { paletteSize?: number; deflate?: PngDeflate } = {},
): Uint8Array {
  if (palette.length % 3 !== 0 || palette.length === 0 || palette.length > 256 * 3) {
    throw new RangeError(`palette must hold 1..256 RGB entries (3 bytes each), got ${palette.length} bytes`);
  }
  const entries = opts.paletteSize ?? palette.length / 3;
  if (!Number.isInteger(entries) || entries < 1 || entries * 3 > palette.length) {
    throw new RangeError(`paletteSize ${entries} is outside 1..${palette.length / 3}`);
  }
  const maxId = maxValue(labels.data);
  if (maxId >= entries) {
    throw new RangeError(`label image holds id ${maxId} but the palette has only ${entries} entries`);
  }
  return encodePng8(
    {
      width: labels.width,
      height: labels.height,
      colorType: 3,
      samples: labels.data,
      palette: palette.subarray(0, entries * 3),
    },
    opts.deflate,
  );
}

/**
 * Encode a binary mask (row-major, 0 = outside, nonzero = inside) as an 8-bit grayscale PNG with
 * values 0 and 255.
 */
export function encodeBinaryMaskPng(mask: Uint8Array, width: number, height: number, deflate?: PngDeflate): Uint8Array {
  if (mask.length !== width * height) {
    throw new RangeError(`mask has ${mask.length} pixels, expected ${width}x${height} = ${width * height}`);
  }
  const gray = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) gray[i] = mask[i] ? 255 : 0;
  return encodePng8({ width, height, colorType: 0, samples: gray }, deflate);
}

/** Encode an interleaved 8-bit RGB frame as a colour-type-2 PNG. */
export function encodeRgbPng(frame: RgbFrame, deflate?: PngDeflate): Uint8Array {
  return encodePng8({ width: frame.width, height: frame.height, colorType: 2, samples: frame.data }, deflate);
}

function maxValue(data: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < data.length; i++) if (data[i] > max) max = data[i];
  return max;
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface DecodeLabelOptions {
  /**
   * How grayscale PNGs map to object ids. `'binary'` (default): any nonzero value is object 1,
   * as the DAVIS-2016 loader casts its {0, 255} masks to bool. `'values'`: keep the raw value
   * (16-bit images must then hold values <= 255).
   */
  grayscale?: 'binary' | 'values';
  /**
   * Accept RGB(A) masks by mapping each colour to its index in this palette (3 bytes per entry,
   * first match wins; alpha is ignored). A colour not in the palette is an error: anti-aliased
   * edges would otherwise turn every blended colour into a new object.
   */
  rgbPalette?: Uint8Array;
}

interface PngHeaderInfo {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
  idatBytes: number;
}

const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ALLOWED_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
/** Largest image we agree to decode (2^28 pixels), so a forged header cannot exhaust memory. */
const MAX_PIXELS = 2 ** 28;
/** Deflate cannot expand data by more than about 1032:1; more means a forged or truncated file. */
const MAX_DEFLATE_RATIO = 1100;

/** Walk the chunk list, checking lengths, CRCs, IHDR fields and the presence of IEND. */
function inspectPngChunks(bytes: Uint8Array, file: string): PngHeaderInfo {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new InputError(file, 'not a PNG file (bad signature)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8;
  let header: PngHeaderInfo | undefined;
  let sawIend = false;
  let first = true;
  while (offset < bytes.length) {
    if (offset + 8 > bytes.length) throw new InputError(file, 'truncated PNG (chunk header cut off)');
    const length = view.getUint32(offset);
    const type = String.fromCharCode(bytes[offset + 4], bytes[offset + 5], bytes[offset + 6], bytes[offset + 7]);
    const end = offset + 12 + length;
    if (length > 0x7fffffff || end > bytes.length) {
      throw new InputError(file, `truncated PNG (chunk ${JSON.stringify(type)} runs past the end of the file)`);
    }
    const stored = view.getUint32(end - 4);
    if (crc32(bytes, offset + 4, end - 4) !== stored) {
      throw new InputError(file, `corrupt PNG (CRC mismatch in chunk ${JSON.stringify(type)})`);
    }
    if (first && type !== 'IHDR') throw new InputError(file, 'corrupt PNG (first chunk is not IHDR)');
    first = false;
    if (type === 'IHDR') {
      if (length !== 13) throw new InputError(file, 'corrupt PNG (IHDR has the wrong length)');
      header = {
        width: view.getUint32(offset + 8),
        height: view.getUint32(offset + 12),
        bitDepth: bytes[offset + 16],
        colorType: bytes[offset + 17],
        interlace: bytes[offset + 20],
        idatBytes: 0,
      };
    } else if (type === 'IDAT' && header) {
      header.idatBytes += length;
    } else if (type === 'IEND') {
      sawIend = true;
      break;
    }
    offset = end;
  }
  if (!header) throw new InputError(file, 'corrupt PNG (no IHDR chunk)');
  if (!sawIend) throw new InputError(file, 'truncated PNG (no IEND chunk)');
  const { width, height, bitDepth, colorType } = header;
  const channels = CHANNELS_BY_COLOR_TYPE[colorType];
  if (channels === undefined) throw new InputError(file, `corrupt PNG (unknown colour type ${colorType})`);
  if (!ALLOWED_DEPTHS[colorType].includes(bitDepth)) {
    throw new InputError(file, `corrupt PNG (bit depth ${bitDepth} is invalid for colour type ${colorType})`);
  }
  if (width < 1 || height < 1) throw new InputError(file, `corrupt PNG (size ${width}x${height})`);
  if (width * height > MAX_PIXELS) {
    throw new InputError(file, `image is ${width}x${height}, larger than the ${MAX_PIXELS}-pixel limit`);
  }
  if (header.interlace > 1) throw new InputError(file, `corrupt PNG (unknown interlace method ${header.interlace})`);
  const rawBytes = height * (1 + Math.ceil((width * channels * bitDepth) / 8));
  if (header.idatBytes === 0) throw new InputError(file, 'corrupt PNG (no image data)');
  if (rawBytes > header.idatBytes * MAX_DEFLATE_RATIO + 1024) {
    throw new InputError(file, `truncated PNG (${header.idatBytes} compressed bytes cannot hold a ${width}x${height} image)`);
  }
  return header;
}

/**
 * Decode a mask PNG into a label image (object id per pixel, row-major).
 *
 * - Palette PNGs (colour type 3, bit depth 1, 2, 4 or 8): the indices themselves, even an index
 *   beyond the PLTE entries (the colours are irrelevant to object ids).
 * - Grayscale PNGs: see `DecodeLabelOptions.grayscale`.
 * - RGB / RGBA PNGs: an `InputError`, unless `opts.rgbPalette` maps colours back to indices.
 * - Grayscale + alpha PNGs: an `InputError` (the alpha channel makes the meaning ambiguous).
 *
 * Interlaced (Adam7) PNGs with bit depth below 8 are rejected: fast-png mis-decodes them.
 */
export function decodeLabelPng(bytes: Uint8Array, file: string, opts: DecodeLabelOptions = {}): LabelImage {
  const header = inspectPngChunks(bytes, file);
  if (header.interlace === 1 && header.bitDepth < 8) {
    throw new InputError(file, `interlaced PNG with bit depth ${header.bitDepth} is not supported; re-save it without interlacing`);
  }
  if ((header.colorType === 2 || header.colorType === 6) && !opts.rgbPalette) {
    throw new InputError(
      file,
      'mask is an RGB image, not an indexed palette or grayscale PNG; save masks as palette PNGs ' +
        '(pixel value = object id), or pass rgbPalette to map exact colours to object ids',
    );
  }
  if (header.colorType === 4) {
    throw new InputError(file, 'mask is a grayscale+alpha PNG; save it as an indexed palette or plain grayscale PNG');
  }
  let decoded: ReturnType<typeof decodePngWithFastPng>;
  try {
    decoded = decodePngWithFastPng(bytes);
  } catch (err) {
    throw new InputError(file, `corrupt PNG (${(err as Error).message})`, { cause: err });
  }
  const { width, height } = header;
  const channels = CHANNELS_BY_COLOR_TYPE[header.colorType];
  const expectedSamples = header.bitDepth < 8 ? height * Math.ceil((width * header.bitDepth) / 8) : width * height * channels;
  if (decoded.width !== width || decoded.height !== height || decoded.data.length !== expectedSamples) {
    throw new InputError(file, 'corrupt PNG (decoded image data has the wrong size)');
  }
  const out = new Uint8Array(width * height);
  if (header.colorType === 3) {
    unpackSamples(decoded.data as Uint8Array, width, height, header.bitDepth, out);
  } else if (header.colorType === 0) {
    const mode = opts.grayscale ?? 'binary';
    if (header.bitDepth === 16) {
      const values = decoded.data as Uint16Array;
      for (let i = 0; i < out.length; i++) {
        const v = values[i];
        if (mode === 'binary') out[i] = v ? 1 : 0;
        else if (v > 255) {
          throw new InputError(
            file,
            `16-bit grayscale mask holds value ${v} at pixel (${i % width}, ${Math.floor(i / width)}); object ids must be <= 255`,
          );
        } else out[i] = v;
      }
    } else {
      unpackSamples(decoded.data as Uint8Array, width, height, header.bitDepth, out);
      if (mode === 'binary') for (let i = 0; i < out.length; i++) out[i] = out[i] ? 1 : 0;
    }
  } else {
    mapRgbToIndices(decoded.data, channels, header.bitDepth, width, opts.rgbPalette as Uint8Array, file, out);
  }
  return { width, height, data: out };
}

/** Unpack rows of `depth`-bit samples (rows padded to whole bytes, MSB first) into bytes. */
function unpackSamples(packed: Uint8Array, width: number, height: number, depth: number, out: Uint8Array): void {
  if (depth === 8) {
    out.set(packed.subarray(0, width * height));
    return;
  }
  const rowBytes = Math.ceil((width * depth) / 8);
  const perByte = 8 / depth;
  const sampleMask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * rowBytes + Math.floor(x / perByte)];
      const shift = 8 - depth * ((x % perByte) + 1);
      out[y * width + x] = (byte >> shift) & sampleMask;
    }
  }
}

function mapRgbToIndices(
  data: ArrayLike<number>,
  channels: number,
  bitDepth: number,
  width: number,
  palette: Uint8Array,
  file: string,
  out: Uint8Array,
): void {
  const colourToIndex = new Map<number, number>();
  for (let i = palette.length / 3 - 1; i >= 0; i--) {
    // Iterating backwards lets the first palette entry win for duplicate colours.
    colourToIndex.set((palette[3 * i] << 16) | (palette[3 * i + 1] << 8) | palette[3 * i + 2], i);
  }
  // A 16-bit sample equals an 8-bit palette value v only when it is exactly v * 257.
  const scale = bitDepth === 16 ? 257 : 1;
  for (let p = 0; p < out.length; p++) {
    const base = p * channels;
    const r = data[base];
    const g = data[base + 1];
    const b = data[base + 2];
    const exact = r % scale === 0 && g % scale === 0 && b % scale === 0;
    const index = exact ? colourToIndex.get(((r / scale) << 16) | ((g / scale) << 8) | (b / scale)) : undefined;
    if (index === undefined) {
      throw new InputError(
        file,
        `RGB mask colour (${r}, ${g}, ${b}) at pixel (${p % width}, ${Math.floor(p / width)}) is not in the palette ` +
          '(anti-aliased or resampled edges?)',
      );
    }
    out[p] = index;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-object binary masks (SA-V layout)

/**
 * Split a label image into one binary mask per object id present (0 is background and skipped).
 * Each mask is row-major, 1 inside the object, 0 elsewhere. Keys iterate in ascending id order.
 */
export function splitObjects(labels: LabelImage): Map<number, Uint8Array> {
  const present = new Uint8Array(256);
  for (let i = 0; i < labels.data.length; i++) present[labels.data[i]] = 1;
  const masks = new Map<number, Uint8Array>();
  for (let id = 1; id < 256; id++) if (present[id]) masks.set(id, new Uint8Array(labels.data.length));
  for (let i = 0; i < labels.data.length; i++) {
    const id = labels.data[i];
    if (id) (masks.get(id) as Uint8Array)[i] = 1;
  }
  return masks;
}

// ---------------------------------------------------------------------------------------------
// Validation

export interface ValidateLabelOptions {
  /** Size of the frame the mask belongs to. */
  width: number;
  height: number;
  /** Largest allowed id. */
  maxObjectId?: number;
  /** Allowed object ids; 0 (background) is always allowed. */
  knownIds?: ReadonlySet<number>;
}

/**
 * Check a decoded mask against its frame: same size, ids within `maxObjectId`, and every id in
 * `knownIds` (when given). Throws `InputError` naming `file` and the first problem found.
 */
export function validateLabels(labels: LabelImage, file: string, opts: ValidateLabelOptions): void {
  if (labels.width !== opts.width || labels.height !== opts.height) {
    throw new InputError(file, `mask is ${labels.width}x${labels.height} but its frame is ${opts.width}x${opts.height}`);
  }
  if (labels.data.length !== labels.width * labels.height) {
    throw new InputError(file, `mask data holds ${labels.data.length} pixels, expected ${labels.width * labels.height}`);
  }
  if (opts.maxObjectId === undefined && opts.knownIds === undefined) return;
  const present = new Uint8Array(256);
  for (let i = 0; i < labels.data.length; i++) present[labels.data[i]] = 1;
  for (let id = 1; id < 256; id++) {
    if (!present[id]) continue;
    if (opts.maxObjectId !== undefined && id > opts.maxObjectId) {
      throw new InputError(file, `mask contains object id ${id}, above the maximum ${opts.maxObjectId}`);
    }
    if (opts.knownIds && !opts.knownIds.has(id)) {
      const known = [...opts.knownIds].sort((a, b) => a - b).join(', ');
      throw new InputError(file, `mask contains palette index ${id}, which is not a known object (known: ${known || 'none'})`);
    }
  }
}
