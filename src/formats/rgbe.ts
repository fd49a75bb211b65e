/**
 * Radiance RGBE (`.hdr`, `.pic`) read and write.
 *
 * File layout: a text header (`#?RADIANCE` or `#?RGBE`, then `KEY=value` and `#` comment lines,
 * ended by an empty line), a resolution line, then `height` scanlines of `width` pixels. A
 * pixel is 4 bytes (R, G, B mantissas, shared exponent E): channel = m * 2^(E - 136), or 0 when
 * E = 0. That is the convention of the widely copied `rgbe.c` (read the same way by OpenCV,
 * stb_image and FreeImage), chosen so that zero and exactly representable values survive a
 * round trip; Radiance's own `colr_color` adds 0.5 to m, a difference below 1/256 of the
 * pixel's largest channel. Scanlines are stored either
 * - new-style RLE (widths 8..32767): marker bytes 2, 2, width >> 8, width & 255, then each of
 *   the 4 byte planes in turn as packets: n > 128 is a run of n - 128 copies of the next byte,
 *   1 <= n <= 128 is n literal bytes; or
 * - flat / old-style RLE: 4-byte pixels, where a pixel (1, 1, 1, n) repeats the previous pixel
 *   n << s times, s growing by 8 for each consecutive such pixel.
 *
 * Only the standard orientation `-Y height +X width` (top-to-bottom, left-to-right) is read.
 * `FORMAT=32-bit_rle_xyze` is rejected (its XYZ primaries would need a colour conversion with
 * Radiance's equal-energy white). `EXPOSURE=` lines are not applied to the pixels: the values
 * are returned as stored, and the product of all EXPOSURE values is returned as `exposure`
 * (divide by it to get the radiance before the exposure adjustment).
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../core/errors.js';
import type { RadianceImage } from '../core/types.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface RgbeImage extends RadianceImage {
  /** Product of the header's EXPOSURE values (1 when absent); not applied to `data`. */
  readonly exposure: number;
}

/** Largest image we agree to decode, so a forged resolution line cannot exhaust memory. */
const MAX_PIXELS = 2 ** 28;
/** Longest header we scan for its end before calling the file malformed. */
const MAX_HEADER_BYTES = 1 << 16;
/** Generous bound on pixels per byte of pixel data; RLE of real images is far below it. */
const MAX_PIXELS_PER_DATA_BYTE = 8192;

// ---------------------------------------------------------------------------------------------
// Pixel conversion

/** Decode one RGBE pixel (mantissas r, g, b, exponent e) into `out[o..o+2]`. */
function rgbeToFloat(r: number, g: number, b: number, e: number, out: Float32Array, o: number): void {
  if (e === 0) {
    out[o] = 0;
    out[o + 1] = 0;
    out[o + 2] = 0;
    return;
  }
  const scale = 2 ** (e - 136);
  out[o] = r * scale;
  out[o + 1] = g * scale;
  out[o + 2] = b * scale;
}

/**
 * Encode one linear RGB pixel as RGBE into `out[o..o+3]`: the shared exponent of the largest
 * channel and mantissas rounded to nearest (Radiance and rgbe.c truncate; rounding halves the
 * worst-case error under the m * 2^(E - 136) reading). Negative channels become 0; a pixel
 * whose largest channel is below 1e-32 becomes black.
 */
function floatToRgbe(r: number, g: number, b: number, out: Uint8Array, o: number, pixel: number): void {
  if (!Number.isFinite(r) || !Number.isFinite(g) || !Number.isFinite(b)) {
    throw new RangeError(`pixel ${pixel} has a non-finite value (${r}, ${g}, ${b}); RGBE cannot store it`);
  }
  if (r < 0) r = 0;
  if (g < 0) g = 0;
  if (b < 0) b = 0;
  const max = Math.max(r, g, b);
  if (max <= 1e-32) {
    out[o] = out[o + 1] = out[o + 2] = out[o + 3] = 0;
    return;
  }
  // frexp: max = m * 2^exponent with m in [0.5, 1), so the largest mantissa is in [128, 256).
  let exponent = Math.floor(Math.log2(max)) + 1;
  const m = max / 2 ** exponent;
  if (m >= 1) exponent++;
  else if (m < 0.5) exponent--;
  // Rounding can carry the largest mantissa to 256: move to the next exponent.
  if (Math.round(max * (256 / 2 ** exponent)) > 255) exponent++;
  if (exponent + 128 > 255) throw new RangeError(`pixel ${pixel} value ${max} is too large for RGBE`);
  const factor = 256 / 2 ** exponent;
  out[o] = Math.round(r * factor);
  out[o + 1] = Math.round(g * factor);
  out[o + 2] = Math.round(b * factor);
  out[o + 3] = exponent + 128;
}

// ---------------------------------------------------------------------------------------------
// Reading

interface ParsedHeader {
  width: number;
  height: number;
  exposure: number;
  dataOffset: number;
}

function parseHeader(bytes: Uint8Array, file: string): ParsedHeader {
  let pos = 0;
  const readLine = (what: string): string => {
    const limit = Math.min(bytes.length, MAX_HEADER_BYTES);
    let end = pos;
    while (end < limit && bytes[end] !== 0x0a) end++;
    if (end >= limit) {
      throw new InputError(
        file,
        end >= MAX_HEADER_BYTES
          ? `Radiance header is longer than ${MAX_HEADER_BYTES} bytes`
          : `truncated Radiance file (${what} is cut off)`,
      );
    }
    // Tolerate CRLF line ends from Windows tools.
    const textEnd = end > pos && bytes[end - 1] === 0x0d ? end - 1 : end;
    let line = '';
    for (let i = pos; i < textEnd; i++) line += String.fromCharCode(bytes[i]);
    pos = end + 1;
    return line;
  };
  if (bytes.length < 2 || bytes[0] !== 0x23 || bytes[1] !== 0x3f) {
    throw new InputError(file, 'not a Radiance HDR file (it does not start with "#?")');
  }
  const magic = readLine('the first header line');
  if (magic !== '#?RADIANCE' && magic !== '#?RGBE') {
    throw new InputError(file, `unsupported Radiance header line ${JSON.stringify(magic)} (expected #?RADIANCE or #?RGBE)`);
  }
  let exposure = 1;
  for (;;) {
    const line = readLine('the header');
    if (line === '') break;
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue; // Radiance keeps free-form lines (command history); they carry no data.
    const key = line.slice(0, eq).trim().toUpperCase();
    const value = line.slice(eq + 1).trim();
    if (key === 'FORMAT') {
      if (value === '32-bit_rle_xyze') {
        throw new InputError(file, 'FORMAT=32-bit_rle_xyze (CIE XYZ pixels) is not supported; convert it to 32-bit_rle_rgbe');
      }
      if (value !== '32-bit_rle_rgbe') throw new InputError(file, `unknown pixel format ${JSON.stringify(line)}`);
    } else if (key === 'EXPOSURE') {
      const factor = Number(value);
      if (!Number.isFinite(factor) || factor <= 0) throw new InputError(file, `invalid header line ${JSON.stringify(line)}`);
      exposure *= factor;
    }
  }
  const resolution = readLine('the resolution line');
  const match = /^-Y (\d{1,9}) \+X (\d{1,9})$/.exec(resolution.trim());
  if (!match) {
    throw new InputError(
      file,
      `unsupported resolution line ${JSON.stringify(resolution)}: only the standard "-Y <height> +X <width>" orientation is read`,
    );
  }
  const height = Number(match[1]);
  const width = Number(match[2]);
  if (width < 1 || height < 1) throw new InputError(file, `image size ${width}x${height} in ${JSON.stringify(resolution)} is empty`);
  const dataBytes = bytes.length - pos;
  if (width * height > MAX_PIXELS) {
    throw new InputError(file, `image is ${width}x${height}, larger than the ${MAX_PIXELS}-pixel limit`);
  }
  // Every scanline takes at least 4 bytes, and RLE cannot compress without bound.
  if (dataBytes < 4 * height || width * height > dataBytes * MAX_PIXELS_PER_DATA_BYTE) {
    throw new InputError(file, `truncated Radiance file (${dataBytes} bytes of pixel data cannot hold ${width}x${height} pixels)`);
  }
  return { width, height, exposure, dataOffset: pos };
}

/**
 * Decode a Radiance RGBE file. Every malformed input (bad header, unsupported orientation or
 * format, truncated data, inconsistent scanline length, runs past the end of a scanline) is an
 * `InputError` naming `file`.
 */
export function decodeRgbe(bytes: Uint8Array, file: string): RgbeImage {
  const { width, height, exposure, dataOffset } = parseHeader(bytes, file);
  let data: Float32Array;
  try {
    data = new Float32Array(width * height * 3);
  } catch (err) {
    throw new InputError(file, `image is ${width}x${height}, too large to decode in memory`, { cause: err });
  }
  // One scanline of RGBE bytes, planar: scan[c * width + x].
  const scan = new Uint8Array(4 * width);
  let pos = dataOffset;
  const need = (at: number, n: number, y: number): void => {
    if (at + n > bytes.length) throw new InputError(file, `truncated Radiance file (pixel data ends in scanline ${y} of ${height})`);
  };
  const newStyleAllowed = width >= 8 && width <= 0x7fff;
  for (let y = 0; y < height; y++) {
    need(pos, 4, y);
    const isNewStyle = newStyleAllowed && bytes[pos] === 2 && bytes[pos + 1] === 2 && (bytes[pos + 2] & 0x80) === 0;
    if (isNewStyle) {
      const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
      if (length !== width) throw new InputError(file, `scanline ${y} has length ${length}, but the image is ${width} wide`);
      pos += 4;
      for (let c = 0; c < 4; c++) {
        const plane = c * width;
        let x = 0;
        while (x < width) {
          need(pos, 1, y);
          const count = bytes[pos++];
          if (count > 128) {
            const run = count - 128;
            if (run > width - x) throw new InputError(file, `run overflows scanline ${y} (run of ${run} at x = ${x}, width ${width})`);
            need(pos, 1, y);
            scan.fill(bytes[pos++], plane + x, plane + x + run);
            x += run;
          } else {
            if (count === 0) throw new InputError(file, `zero-length packet in scanline ${y}`);
            if (count > width - x)
              throw new InputError(file, `run overflows scanline ${y} (${count} literal bytes at x = ${x}, width ${width})`);
            need(pos, count, y);
            scan.set(bytes.subarray(pos, pos + count), plane + x);
            pos += count;
            x += count;
          }
        }
      }
    } else {
      pos = readOldStyleScanline(bytes, pos, scan, width, y, file, need);
    }
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      rgbeToFloat(scan[x], scan[width + x], scan[2 * width + x], scan[3 * width + x], data, row + 3 * x);
    }
  }
  return { width, height, data, exposure };
}

/** Flat or old-style RLE scanline into the planar `scan`; returns the new read position. */
function readOldStyleScanline(
  bytes: Uint8Array,
  start: number,
  scan: Uint8Array,
  width: number,
  y: number,
  file: string,
  need: (at: number, n: number, y: number) => void,
): number {
  let pos = start;
  let x = 0;
  let shift = 0;
  while (x < width) {
    need(pos, 4, y);
    const r = bytes[pos];
    const g = bytes[pos + 1];
    const b = bytes[pos + 2];
    const e = bytes[pos + 3];
    pos += 4;
    if (r === 1 && g === 1 && b === 1) {
      if (x === 0) throw new InputError(file, `scanline ${y} starts with a repeat marker (nothing to repeat)`);
      const count = e * 2 ** shift;
      if (count > width - x) throw new InputError(file, `run overflows scanline ${y} (repeat of ${count} at x = ${x}, width ${width})`);
      for (let c = 0; c < 4; c++) {
        const plane = c * width;
        scan.fill(scan[plane + x - 1], plane + x, plane + x + count);
      }
      x += count;
      shift += 8;
    } else {
      scan[x] = r;
      scan[width + x] = g;
      scan[2 * width + x] = b;
      scan[3 * width + x] = e;
      x++;
      shift = 0;
    }
  }
  return pos;
}

/** Read a Radiance `.hdr` file (see `decodeRgbe`). */
export async function readRgbe(path: string): Promise<RgbeImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(path, `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  return decodeRgbe(bytes, path);
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Encode linear radiance as a Radiance RGBE file with new-style RLE scanlines (flat scanlines
 * when the width is outside 8..32767, where RLE is not defined). Negative values are stored as
 * 0; non-finite values or values of 2^127 and above are a RangeError.
 */
export function encodeRgbe(image: RadianceImage): Uint8Array {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new RangeError(`expected ${width * height * 3} values for ${width}x${height} RGB, got ${data.length}`);
  }
  const header = `#?RADIANCE\n# written by vprop\nFORMAT=32-bit_rle_rgbe\n\n-Y ${height} +X ${width}\n`;
  const useRle = width >= 8 && width <= 0x7fff;
  // Worst case per RLE scanline: marker + 4 planes of literal packets (1 count byte per 128).
  const maxScanline = useRle ? 4 + 4 * (width + Math.ceil(width / 128)) : 4 * width;
  const out = new Uint8Array(header.length + height * maxScanline);
  for (let i = 0; i < header.length; i++) out[i] = header.charCodeAt(i);
  let pos = header.length;
  const pixel = new Uint8Array(4);
  const plane = new Uint8Array(width * 4); // planar RGBE bytes of one scanline
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      floatToRgbe(data[i], data[i + 1], data[i + 2], pixel, 0, y * width + x);
      if (useRle) {
        for (let c = 0; c < 4; c++) plane[c * width + x] = pixel[c];
      } else {
        // Unambiguous: a repeat marker has mantissas (1, 1, 1), ours have a largest one >= 128.
        out.set(pixel, pos);
        pos += 4;
      }
    }
    if (!useRle) continue;
    out[pos++] = 2;
    out[pos++] = 2;
    out[pos++] = width >> 8;
    out[pos++] = width & 0xff;
    for (let c = 0; c < 4; c++) pos = writeRlePlane(plane.subarray(c * width, (c + 1) * width), out, pos);
  }
  return out.slice(0, pos);
}

/** Packets for one byte plane: runs of 3..127 equal bytes, literals of up to 128 bytes otherwise. */
function writeRlePlane(values: Uint8Array, out: Uint8Array, start: number): number {
  const n = values.length;
  const runLengthAt = (i: number, cap: number): number => {
    let run = 1;
    while (run < cap && i + run < n && values[i + run] === values[i]) run++;
    return run;
  };
  let pos = start;
  let i = 0;
  while (i < n) {
    const run = runLengthAt(i, 127);
    if (run >= 3) {
      out[pos++] = 128 + run;
      out[pos++] = values[i];
      i += run;
      continue;
    }
    // A literal packet up to the next run of 3 or more (a run of 2 costs as much as literals).
    let end = i + 1;
    while (end < n && end - i < 128 && runLengthAt(end, 3) < 3) end++;
    out[pos++] = end - i;
    out.set(values.subarray(i, end), pos);
    pos += end - i;
    i = end;
  }
  return pos;
}

/** Write a Radiance `.hdr` file atomically. */
export async function writeRgbe(path: string, image: RadianceImage): Promise<void> {
  await writeFileAtomic(path, encodeRgbe(image));
}
