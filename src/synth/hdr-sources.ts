/**
 * The still HDR images the HDR videos are made from, their fixed train / held-out split, and the
 * benchmark's clip list. Node only (reads files); not part of the browser entry.
 *
 * Collections (licences checked 2026-12-02):
 * - `ilm`: the 8 HDR photographs of OpenEXR's sample images in `../shared/data/hdr/photos`
 *   (BSD-3-Clause, Industrial Light & Magic; never copied into the project).
 * - `blender`: the 8 studio-light world panoramas of Debian's `blender-data`
 *   (`/usr/share/blender/datafiles/studiolights/world/*.exr`, 1024x512 float; CC0, by Greg Zaal /
 *   HDRI Haven, says the directory's license.txt). `scripts/setup.sh --test` installs the package.
 * - `pmndrs`: the 18 panoramas of npm `@pmndrs/assets` 1.7.0 (`hdri/*.exr.js`, 512x256 half,
 *   DWAB, base64 data URLs; package licence CC0-1.0, Poly Haven originals). Not a dependency of
 *   the project: install it (`npm install --no-save @pmndrs/assets@1.7.0`) to train on them.
 *
 * Overlaps between collections (every pmndrs panorama against every Blender one: correlation of
 * 64x32 log-luminance thumbnails over all horizontal rotations, then the candidates by eye):
 * pmndrs `sunrise` is Blender's `sunrise` (correlation 0.998); by eye, pmndrs `venice` shows the
 * sea front of Blender's `sunset` and pmndrs `studio` the studio of Blender's `studio`. All six are
 * on the train side. Other pairs correlate up to 0.89 (open skies look alike at 64x32) but show
 * different places; the held-out panoramas' highest is 0.74 (Blender `city`, a car park with a
 * crane, against pmndrs `city`, Potsdamer Platz: two overcast cities, different places).
 *
 * The split (HDR_SPLIT) is fixed: held-out images are never trained on by anyone (the STPN trainer
 * reads `HDR_SPLIT.train` only; training/README.md repeats it) and the benchmark uses only
 * held-out ones. Held out: three Blender panoramas of different kinds of light (an outdoor
 * courtyard with sun and deep shade, a hotel room with bright windows, an overcast city with a
 * bright sky) and two photographs (the Golden Gate at dusk with the city's lights, a backlit
 * stained-glass window with a silhouette).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeExr, exrToInterleavedRgb, readExr } from '../formats/exr.js';
import { type HdrStill, normalizeMedianLuminance, sanitizeRadiance } from './hdr-video.js';

export type HdrCollection = 'ilm' | 'blender' | 'pmndrs';

export interface HdrSourceEntry {
  /** `collection/name`, e.g. 'blender/courtyard'. */
  readonly id: string;
  readonly collection: HdrCollection;
  readonly kind: 'panorama' | 'photo';
  /** File name inside its collection. */
  readonly file: string;
}

export const HDR_COLLECTION_LICENCES: Readonly<Record<HdrCollection, string>> = {
  ilm: 'BSD-3-Clause (Industrial Light & Magic, OpenEXR sample images)',
  blender: 'CC0 (Greg Zaal / HDRI Haven, Debian blender-data studiolights/world/license.txt)',
  pmndrs: 'CC0-1.0 (npm @pmndrs/assets 1.7.0, Poly Haven originals)',
};

const ilm = (name: string): HdrSourceEntry => ({ id: `ilm/${name}`, collection: 'ilm', kind: 'photo', file: `${name}.exr` });
const blender = (name: string): HdrSourceEntry => ({ id: `blender/${name}`, collection: 'blender', kind: 'panorama', file: `${name}.exr` });
const pmndrs = (name: string): HdrSourceEntry => ({ id: `pmndrs/${name}`, collection: 'pmndrs', kind: 'panorama', file: `${name}.exr.js` });

/** The fixed split of every HDR still image: train for learning, heldOut for the benchmark only. */
export const HDR_SPLIT: { readonly train: readonly HdrSourceEntry[]; readonly heldOut: readonly HdrSourceEntry[] } = {
  train: [
    ...['CandleGlass', 'Cannon', 'Carrots', 'MtTamWest', 'StillLife', 'Tree'].map(ilm),
    ...['forest', 'night', 'studio', 'sunrise', 'sunset'].map(blender),
    ...[
      'apartment',
      'bridge',
      'city',
      'dawn',
      'esplanade',
      'forest',
      'hall',
      'lab',
      'lobby',
      'night',
      'park',
      'sky',
      'studio',
      'sunrise',
      'sunset',
      'venice',
      'warehouse',
      'workshop',
    ].map(pmndrs),
  ],
  heldOut: [...['courtyard', 'interior', 'city'].map(blender), ...['GoldenGate', 'Desk'].map(ilm)],
};

/** One clip of the benchmark: a held-out source and the seed of its camera path. */
export interface HdrBenchClip {
  readonly source: string;
  readonly seed: number;
}

/**
 * The benchmark's clips: every held-out source, panoramas with two camera paths each (they are the
 * split's subject), photos with one.
 */
export const HDR_BENCH_CLIPS: readonly HdrBenchClip[] = [
  { source: 'blender/courtyard', seed: 1 },
  { source: 'blender/courtyard', seed: 2 },
  { source: 'blender/interior', seed: 1 },
  { source: 'blender/interior', seed: 2 },
  { source: 'blender/city', seed: 1 },
  { source: 'blender/city', seed: 2 },
  { source: 'ilm/GoldenGate', seed: 1 },
  { source: 'ilm/Desk', seed: 1 },
];

export interface HdrSourceRoots {
  /** `../shared/data` (default: next to the project root). */
  readonly sharedData?: string;
  /** Blender's panoramas (default: Debian's path). */
  readonly blenderWorlds?: string;
}

export const BLENDER_WORLDS_DIR = '/usr/share/blender/datafiles/studiolights/world';
const defaultSharedData = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'data');

export function hdrSourceEntry(id: string): HdrSourceEntry {
  const e = [...HDR_SPLIT.train, ...HDR_SPLIT.heldOut].find((s) => s.id === id);
  if (!e) throw new RangeError(`unknown HDR source "${id}"`);
  return e;
}

/** Where an entry's file is, or why it is absent (a message for a skip). */
export function locateHdrSource(entry: HdrSourceEntry, roots: HdrSourceRoots = {}): { path: string } | { missing: string } {
  if (entry.collection === 'pmndrs') {
    try {
      return { path: createRequire(import.meta.url).resolve(`@pmndrs/assets/hdri/${entry.file}`) };
    } catch {
      return { missing: `${entry.id} needs the npm package @pmndrs/assets (not a dependency: npm install --no-save @pmndrs/assets@1.7.0)` };
    }
  }
  const path =
    entry.collection === 'ilm'
      ? join(roots.sharedData ?? defaultSharedData, 'hdr', 'photos', entry.file)
      : join(roots.blenderWorlds ?? BLENDER_WORLDS_DIR, entry.file);
  return { path };
}

/**
 * Read an entry as an `HdrStill`: radiance sanitised (negatives and NaN to 0, +Inf to 65504) and,
 * unless `normalize` is false, scaled to a median luminance of 0.18 (`normalizeMedianLuminance`;
 * the factor is the still's `scale`). The benchmark and the training data both use the scaled form.
 */
export async function loadHdrStill(
  entry: HdrSourceEntry,
  roots: HdrSourceRoots = {},
  opts: { normalize?: boolean } = {},
): Promise<HdrStill> {
  const where = locateHdrSource(entry, roots);
  if ('missing' in where) throw new Error(where.missing);
  let image: { width: number; height: number; channels: string[]; data: Float32Array };
  if (entry.collection === 'pmndrs') {
    const text = await readFile(where.path, 'utf8');
    const start = text.indexOf('base64,');
    const end = text.lastIndexOf("'");
    if (start < 0 || end <= start) throw new Error(`${where.path}: no base64 data URL found`);
    image = decodeExr(new Uint8Array(Buffer.from(text.slice(start + 7, end), 'base64')), where.path);
  } else {
    image = await readExr(where.path);
  }
  const clean = sanitizeRadiance({ width: image.width, height: image.height, data: exrToInterleavedRgb(image) });
  const scaled = opts.normalize === false ? { image: clean, scale: 1 } : normalizeMedianLuminance(clean);
  return { kind: entry.kind, name: entry.id, image: scaled.image, scale: scaled.scale };
}
