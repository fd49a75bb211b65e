/**
 * NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0): what a Python segmenter writes with
 * `np.save`, so per-frame class probabilities or scores can be handed to vprop without a
 * converter.
 *
 * Decoded arrays are returned in C (row-major) order whatever the file's `fortran_order`, as a
 * `Float32Array` for floating-point data and as the matching integer typed array otherwise.
 * Supported dtypes: little- and big-endian float16/32/64, int8/16/32/64, uint8/16/32/64, bool.
 * Encoding writes version 1.0 (2.0 for very long headers), little-endian, C order.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../core/errors.js';
import { floatToHalf, halfToFloat } from './exr-half.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface NpyArray {
  /** Shape, outermost first (C order). */
  shape: number[];
  /** The dtype as written in the header, e.g. '<f4'. */
  dtype: string;
  /**
   * Values in C order. float16/32 → Float32Array, float64 → Float64Array, 64-bit integers →
   * Float64Array (exact below 2^53), bool → Uint8Array, other integers their own typed array.
   */
  data: NpyData;
}

/** Parse the header dictionary `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`. */
function parseHeader(text: string, file: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputError(file, `not a valid .npy header (${JSON.stringify(text.trim().slice(0, 120))})`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) throw new InputError(file, `invalid .npy shape (${shapeText})`);
      return v;
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Decode an in-memory `.npy` file; `file` names it in errors. */
export function decodeNpy(bytes: Uint8Array, file: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new InputError(file, 'not a NumPy .npy file (bad magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InputError(file, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw new InputError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (offset + headerLen > bytes.length) throw new InputError(file, 'truncated .npy header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLen));
  const { descr, fortran, shape } = parseHeader(header, file);
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (!m) throw new InputError(file, `unsupported .npy dtype '${descr}' (numeric arrays only)`);
  const [, order, kind, sizeText] = m;
  const size = Number(sizeText);
  const little = order !== '>';
  const supported = kind === 'f' ? [2, 4, 8] : kind === 'b' ? [1] : [1, 2, 4, 8];
  if (!supported.includes(size)) throw new InputError(file, `unsupported .npy dtype '${descr}'`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  if (bytes.length - start < count * size) {
    throw new InputError(file, `truncated .npy data: ${bytes.length - start} bytes for shape (${shape.join(', ')}) of '${descr}'`);
  }
  const read = (i: number): number => {
    const p = start + i * size;
    if (kind === 'f')
      return size === 2 ? halfToFloat(view.getUint16(p, little)) : size === 4 ? view.getFloat32(p, little) : view.getFloat64(p, little);
    if (kind === 'b' || size === 1) return kind === 'i' ? view.getInt8(p) : view.getUint8(p);
    if (size === 2) return kind === 'i' ? view.getInt16(p, little) : view.getUint16(p, little);
    if (size === 4) return kind === 'i' ? view.getInt32(p, little) : view.getUint32(p, little);
    return Number(kind === 'i' ? view.getBigInt64(p, little) : view.getBigUint64(p, little));
  };
  const data: NpyData =
    kind === 'f'
      ? size === 8
        ? new Float64Array(count)
        : new Float32Array(count)
      : size === 8
        ? new Float64Array(count)
        : kind === 'b' || (kind === 'u' && size === 1)
          ? new Uint8Array(count)
          : kind === 'i' && size === 1
            ? new Int8Array(count)
            : size === 2
              ? kind === 'i'
                ? new Int16Array(count)
                : new Uint16Array(count)
              : kind === 'i'
                ? new Int32Array(count)
                : new Uint32Array(count);
  if (!fortran || shape.length < 2) {
    for (let i = 0; i < count; i++) data[i] = read(i);
  } else {
    // Fortran order: the first axis varies fastest in the file. Walk the file and place each
    // value at its C-order index.
    const strides = new Array<number>(shape.length);
    strides[shape.length - 1] = 1;
    for (let a = shape.length - 2; a >= 0; a--) strides[a] = strides[a + 1] * shape[a + 1];
    const idx = new Array<number>(shape.length).fill(0);
    for (let i = 0; i < count; i++) {
      let c = 0;
      for (let a = 0; a < shape.length; a++) c += idx[a] * strides[a];
      data[c] = read(i);
      for (let a = 0; a < shape.length; a++) {
        if (++idx[a] < shape[a]) break;
        idx[a] = 0;
      }
    }
  }
  return { shape, dtype: descr, data };
}

/** Read a `.npy` file (errors name the file). */
export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return decodeNpy(bytes, path);
}

/**
 * Encode a float array as `.npy`, little-endian, C order: `dtype` '<f2' (half; values beyond
 * ±65504 become ±inf) or '<f4'.
 */
export function encodeNpy(data: Float32Array, shape: readonly number[], dtype: '<f2' | '<f4' = '<f4'): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((s) => Number.isInteger(s) && s >= 0) || count !== data.length) {
    throw new RangeError(`encodeNpy: shape (${shape.join(', ')}) does not hold ${data.length} values`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Header (magic + version + length + dict + padding + '\n') is padded to a multiple of 64 bytes.
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  dict = dict.padEnd(total - prefix - 1, ' ');
  dict += '\n';
  const size = dtype === '<f2' ? 2 : 4;
  const out = new Uint8Array(total + count * size);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  if (size === 2) for (let i = 0; i < count; i++) view.setUint16(total + 2 * i, floatToHalf(data[i]), true);
  else for (let i = 0; i < count; i++) view.setFloat32(total + 4 * i, data[i], true);
  return out;
}
