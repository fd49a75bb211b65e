/**
 * COCO run-length encoding, bit-compatible with pycocotools (`maskApi.c`).
 *
 * A mask of `h` rows and `w` columns is read in column-major (Fortran) order, pixel (y, x) at
 * position `x * h + y`, and stored as alternating run lengths starting with a run of zeros (so
 * a mask whose first pixel is set starts with a count of 0). The counts sum to `h * w`.
 *
 * The compressed string form (`rleToString`) stores each count, after replacing count i > 2 by
 * its difference from count i - 2, as a little-endian sequence of 5-bit groups, one character
 * per group: character = 48 + group + (0x20 if more groups follow); the last group's bit 0x10
 * is the sign bit of the two's-complement value.
 */
import { InputError } from '../core/errors.js';

/** A COCO RLE as found in JSON: `counts` is the compressed string or the plain run lengths. */
export interface CocoRle {
  /** [height, width]. */
  size: [number, number];
  counts: string | number[];
}

/** The compressed form pycocotools' `encode` returns (counts decoded from bytes to a string). */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}

const DEFAULT_SOURCE = '<rle>';

/**
 * Run lengths of a row-major mask (`mask[y * width + x]`, nonzero = inside), in column-major
 * order starting with zeros: the uncompressed COCO `counts`.
 */
export function encodeRleCounts(mask: Uint8Array, height: number, width: number): number[] {
  if (mask.length !== height * width) {
    throw new RangeError(`mask has ${mask.length} pixels, expected ${height}x${width} = ${height * width}`);
  }
  const counts: number[] = [];
  let current = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const value = mask[y * width + x] ? 1 : 0;
      if (value !== current) {
        counts.push(run);
        run = 0;
        current = value;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** Encode a row-major 0/1 mask as a compressed COCO RLE (pycocotools `mask.encode`). */
export function encodeRle(mask: Uint8Array, height: number, width: number): CompressedRle {
  return { size: [height, width], counts: rleToString(encodeRleCounts(mask, height, width)) };
}

/** pycocotools `rleToString`: run lengths to the compressed ASCII form. */
export function rleToString(counts: readonly number[]): string {
  let out = '';
  for (let i = 0; i < counts.length; i++) {
    // Arithmetic instead of bit operators keeps counts beyond 2^31 exact.
    let x = counts[i] - (i > 2 ? counts[i - 2] : 0);
    let more = true;
    while (more) {
      const group = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = group & 0x10 ? x !== -1 : x !== 0;
      out += String.fromCharCode(48 + (more ? group | 0x20 : group));
    }
  }
  return out;
}

/** pycocotools `rleFrString`: the compressed ASCII form back to run lengths. */
export function rleFromString(text: string, file: string = DEFAULT_SOURCE): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let scale = 1;
    let more = true;
    while (more) {
      if (p >= text.length) throw new InputError(file, 'RLE counts string ends in the middle of a number');
      const code = text.charCodeAt(p) - 48;
      if (code < 0 || code > 63) {
        throw new InputError(file, `RLE counts string has invalid character ${JSON.stringify(text[p])} at offset ${p}`);
      }
      x += (code & 0x1f) * scale;
      scale *= 32;
      more = (code & 0x20) !== 0;
      p++;
      if (!more && code & 0x10) x -= scale; // sign-extend the last group
      if (scale > 2 ** 45) throw new InputError(file, `RLE count at offset ${p} is too large`);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    if (x < 0) throw new InputError(file, `RLE count ${counts.length} decodes to the negative value ${x}`);
    counts.push(x);
  }
  return counts;
}

function checkSize(rle: CocoRle, file: string): [number, number] {
  const size = rle?.size;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new InputError(file, `RLE size must be [height, width] of non-negative integers, got ${JSON.stringify(size)}`);
  }
  return size;
}

/** The run lengths of an RLE in either form, validated to sum to height * width. */
export function rleCounts(rle: CocoRle, file: string = DEFAULT_SOURCE): number[] {
  const [height, width] = checkSize(rle, file);
  let counts: number[];
  if (typeof rle.counts === 'string') {
    counts = rleFromString(rle.counts, file);
  } else if (Array.isArray(rle.counts)) {
    counts = rle.counts;
    counts.forEach((c, i) => {
      if (!Number.isInteger(c) || c < 0) throw new InputError(file, `RLE count ${i} is ${JSON.stringify(c)}, not a non-negative integer`);
    });
  } else {
    throw new InputError(file, 'RLE counts must be a string or an array of numbers');
  }
  let total = 0;
  for (const c of counts) total += c;
  if (total !== height * width) {
    throw new InputError(file, `RLE counts sum to ${total} but size ${height}x${width} has ${height * width} pixels`);
  }
  return counts;
}

/**
 * Decode an RLE (compressed string or uncompressed counts) to a row-major mask:
 * `mask[y * width + x]` is 1 inside, 0 outside.
 */
export function decodeRle(rle: CocoRle, file: string = DEFAULT_SOURCE): Uint8Array {
  const [height, width] = rle.size;
  const counts = rleCounts(rle, file);
  const mask = new Uint8Array(height * width);
  let position = 0; // column-major position
  for (let i = 0; i < counts.length; i++) {
    const end = position + counts[i];
    if (i & 1) {
      for (let p = position; p < end; p++) {
        const x = Math.floor(p / height);
        mask[(p - x * height) * width + x] = 1;
      }
    }
    position = end;
  }
  return mask;
}

/** Number of pixels inside the mask (pycocotools `area`). */
export function rleArea(rle: CocoRle, file: string = DEFAULT_SOURCE): number {
  const counts = rleCounts(rle, file);
  let area = 0;
  for (let i = 1; i < counts.length; i += 2) area += counts[i];
  return area;
}
