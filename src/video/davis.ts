/**
 * The DAVIS dataset layout (PEERS §3.1):
 *   <root>/JPEGImages/<resolution>/<sequence>/00000.jpg
 *   <root>/Annotations/<resolution>/<sequence>/00000.png
 * Frames are ordered by natural sort of their names; annotations are matched to frames by file
 * stem. DAVIS-2016 masks are 0/255 grey (read as 0/1); DAVIS-2017 masks are palette PNGs whose
 * index is the object id.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { LabelImage } from '../core/types.js';
import { readLabelPng } from '../formats/png.js';
import { naturalSort } from '../util/natural-sort.js';
import { type FolderOptions, ImageFolderSource, inspectImageSequence, listImageFiles } from './folder.js';

export interface DavisOptions extends FolderOptions {
  /** Sub-folder under JPEGImages/ and Annotations/ (default `480p`; DAVIS-2017 also has `Full-Resolution`). */
  resolution?: string;
}

export interface DavisAnnotations {
  /** Directory the masks are read from. */
  readonly dir: string;
  /** Frame indices that have a mask, ascending (DAVIS val: only 0; DAVIS-2016 dev data: all). */
  readonly indices: readonly number[];
  /** Path of the mask file for an annotated frame index. */
  file(index: number): string;
  /** Read the mask of an annotated frame: object ids per pixel, 0 = background. */
  read(index: number): Promise<LabelImage>;
}

/** DAVIS frames: an image-sequence source that also carries the sequence's annotations. */
export class DavisFrameSource extends ImageFolderSource {
  constructor(
    origin: string,
    files: readonly string[],
    size: { width: number; height: number },
    opts: FolderOptions,
    readonly sequence: string,
    readonly annotations: DavisAnnotations,
    bad?: ReadonlyMap<number, InputError>,
  ) {
    super(origin, files, 'davis', size, opts, bad);
  }
}

export interface DavisSequence {
  readonly root: string;
  readonly sequence: string;
  readonly resolution: string;
  readonly frames: DavisFrameSource;
  readonly annotations: DavisAnnotations;
  /** All sequences available at this resolution. */
  readonly sequences: readonly string[];
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Names of the sequences under `<root>/JPEGImages/<resolution>`, naturally sorted. */
export async function listDavisSequences(root: string, resolution = '480p'): Promise<string[]> {
  const dir = join(root, 'JPEGImages', resolution);
  if (!(await isDir(dir))) throw new InputError(root, `not a DAVIS root: ${join('JPEGImages', resolution)} does not exist`);
  const entries = await readdir(dir, { withFileTypes: true });
  return naturalSort(entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name));
}

const stemOf = (name: string) => basename(name, extname(name));

/** Open one DAVIS sequence: its frames and its annotations. */
export async function openDavis(root: string, sequence: string, opts: DavisOptions = {}): Promise<DavisSequence> {
  const resolution = opts.resolution ?? '480p';
  const sequences = await listDavisSequences(root, resolution);
  if (!sequences.includes(sequence)) {
    const shown = sequences.slice(0, 20).join(', ') + (sequences.length > 20 ? ', ...' : '');
    throw new InputError(root, `DAVIS sequence "${sequence}" not found at ${resolution} (available: ${shown || 'none'})`);
  }
  const frameDir = join(root, 'JPEGImages', resolution, sequence);
  const names = await listImageFiles(frameDir);
  if (names.length === 0) throw new InputError(frameDir, 'contains no frames');
  const files = names.map((n) => join(frameDir, n));
  const { width, height, bad } = await inspectImageSequence(frameDir, files, opts);

  const annDir = join(root, 'Annotations', resolution, sequence);
  const byIndex = new Map<number, string>();
  if (await isDir(annDir)) {
    const frameIndexByStem = new Map(names.map((n, i) => [stemOf(n), i]));
    const entries = await readdir(annDir, { withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile() || e.name.startsWith('.') || extname(e.name).toLowerCase() !== '.png') continue;
      const index = frameIndexByStem.get(stemOf(e.name));
      if (index === undefined) throw new InputError(join(annDir, e.name), `mask has no matching frame in ${frameDir}`);
      byIndex.set(index, join(annDir, e.name));
    }
  }
  const indices = [...byIndex.keys()].sort((a, b) => a - b);
  const fileOf = (index: number): string => {
    const f = byIndex.get(index);
    if (f === undefined)
      throw new InputError(
        annDir,
        `frame ${index} has no annotation (annotated frames: ${indices.slice(0, 10).join(', ')}${indices.length > 10 ? ', ...' : ''})`,
      );
    return f;
  };
  const annotations: DavisAnnotations = {
    dir: annDir,
    indices,
    file: fileOf,
    async read(index: number): Promise<LabelImage> {
      const file = fileOf(index);
      // 'binary': DAVIS-2016 masks are 0/255 grey; a single object has id 1.
      const mask = await readLabelPng(file, { grayscale: 'binary' });
      if (mask.width !== width || mask.height !== height) {
        throw new InputError(file, `mask is ${mask.width}x${mask.height} but the frames are ${width}x${height}`);
      }
      return mask;
    },
  };
  const frames = new DavisFrameSource(frameDir, files, { width, height }, opts, sequence, annotations, bad);
  return { root, sequence, resolution, frames, annotations, sequences };
}
