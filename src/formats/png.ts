/**
 * Label PNGs: indexed-palette masks (pixel value = object id, the DAVIS convention), grayscale
 * masks (DAVIS-2016), per-object binary PNGs (the SA-V layout) and plain RGB PNGs.
 *
 * Writing uses our own chunk writer on `node:zlib`: pngjs and sharp expand palettes to RGB(A);
 * `fast-png`'s `encode` with a palette round-trips indices exactly, but measured on 40 DAVIS
 * bmx-trees masks (2026-12-02, scratch script, median of 5) it took 2.8x our writer's time and
 * wrote 18 % more bytes (it filters and deflates in JavaScript). Reading uses `fast-png`, which keeps
 * palette indices; we walk and CRC-check the chunks ourselves first so that truncated or corrupt
 * files fail with an `InputError` before any large allocation.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { InputError } from '../core/errors.js';
import type { LabelImage, RgbFrame } from '../core/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import * as codec from './png-codec.js';
import { DAVIS_PALETTE, type DecodeLabelOptions, decodeLabelPng, splitObjects, validateLabels } from './png-codec.js';

// The pure codec (palette, encoders, checked decoder, per-object split, validation); the encoders
// below shadow its defaults with node:zlib's deflate, the one measured above.
export * from './png-codec.js';

const nodeDeflate = (data: Uint8Array): Uint8Array => deflateSync(data);

/** `encodePalettePng` of png-codec.ts with node:zlib's deflate. */
export function encodePalettePng(labels: LabelImage, palette: Uint8Array = DAVIS_PALETTE, opts: { paletteSize?: number } = {}): Uint8Array {
  return codec.encodePalettePng(labels, palette, { ...opts, deflate: nodeDeflate });
}

/** `encodeBinaryMaskPng` of png-codec.ts with node:zlib's deflate. */
export function encodeBinaryMaskPng(mask: Uint8Array, width: number, height: number): Uint8Array {
  return codec.encodeBinaryMaskPng(mask, width, height, nodeDeflate);
}

/** `encodeRgbPng` of png-codec.ts with node:zlib's deflate. */
export function encodeRgbPng(frame: RgbFrame): Uint8Array {
  return codec.encodeRgbPng(frame, nodeDeflate);
}

/** Read and decode a mask PNG from disk (see `decodeLabelPng`). */
export async function readLabelPng(path: string, opts: DecodeLabelOptions = {}): Promise<LabelImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new InputError(path, `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  return decodeLabelPng(bytes, path, opts);
}

/** Write a label image as a palette PNG, atomically. */
export async function writeLabelPng(path: string, labels: LabelImage, palette: Uint8Array = DAVIS_PALETTE): Promise<void> {
  await writeFileAtomic(path, encodePalettePng(labels, palette));
}

export interface PerObjectLayout {
  /**
   * Number of the directory that holds object 1. SA-V numbers objects from 0 (`000/` is the first
   * object) while label images reserve 0 for background, so the default 0 stores object id k in
   * directory `k - 1`. Use 1 to name directories by object id.
   */
  firstObjectDir?: number;
}

function objectDirName(id: number, firstObjectDir: number): string {
  return String(id - 1 + firstObjectDir).padStart(3, '0');
}

function frameFileName(frameIndex: number): string {
  return `${String(frameIndex).padStart(5, '0')}.png`;
}

/**
 * Write one binary PNG per object: `<dir>/<object dir:03d>/<frame:05d>.png` (the SA-V val/test
 * layout), each atomically. Objects listed in `objectIds` but absent from this frame get an
 * all-zero mask, so every object directory has every frame. Returns the written paths.
 */
export async function writePerObjectMasks(
  dir: string,
  frameIndex: number,
  labels: LabelImage,
  opts: PerObjectLayout & { objectIds?: Iterable<number> } = {},
): Promise<string[]> {
  const firstObjectDir = opts.firstObjectDir ?? 0;
  const masks = splitObjects(labels);
  const ids = new Set<number>(masks.keys());
  for (const id of opts.objectIds ?? []) {
    if (!Number.isInteger(id) || id < 1 || id > 255) throw new RangeError(`object id ${id} is outside 1..255`);
    ids.add(id);
  }
  const written: string[] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const mask = masks.get(id) ?? new Uint8Array(labels.width * labels.height);
    const path = join(dir, objectDirName(id, firstObjectDir), frameFileName(frameIndex));
    await writeFileAtomic(path, encodeBinaryMaskPng(mask, labels.width, labels.height));
    written.push(path);
  }
  return written;
}

/**
 * Read the per-object PNGs of one frame and merge them into a label image. Any nonzero pixel
 * (grayscale 255, or palette index 1 as SAM 2 writes them) is inside the object. Where objects
 * overlap, the larger object id wins, since a label image holds one id per pixel. An object
 * directory without this frame's file means the object is absent; a frame that no object
 * directory has is an `InputError` (most likely a wrong frame index).
 */
export async function readPerObjectMasks(
  dir: string,
  frameIndex: number,
  width: number,
  height: number,
  opts: PerObjectLayout = {},
): Promise<LabelImage> {
  const firstObjectDir = opts.firstObjectDir ?? 0;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new InputError(dir, `cannot list per-object mask directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
      cause: err,
    });
  }
  const objects = entries
    .filter((name) => /^\d+$/.test(name))
    .map((name) => ({ name, id: Number(name) - firstObjectDir + 1 }))
    .sort((a, b) => a.id - b.id);
  const data = new Uint8Array(width * height);
  let found = 0;
  for (const { name, id } of objects) {
    const path = join(dir, name, frameFileName(frameIndex));
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new InputError(path, `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
    }
    if (id < 1 || id > 255) {
      throw new InputError(join(dir, name), `object directory maps to id ${id}, outside 1..255 (firstObjectDir = ${firstObjectDir})`);
    }
    const mask = decodeLabelPng(bytes, path, { grayscale: 'binary' });
    validateLabels(mask, path, { width, height });
    found++;
    for (let i = 0; i < data.length; i++) if (mask.data[i]) data[i] = id;
  }
  if (found === 0) {
    throw new InputError(dir, `no object directory holds ${frameFileName(frameIndex)} (frame ${frameIndex})`);
  }
  return { width, height, data };
}
