/**
 * Image folders as frame sources: `.jpg`/`.jpeg`/`.png` files (any case) in natural order, decoded
 * on demand with sharp into interleaved RGB. Only a bounded number of decoded frames is held.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { AbortError, InputError, throwIfAborted } from '../core/errors.js';
import type { IndexedFrame } from '../core/types.js';
import { naturalSort } from '../util/natural-sort.js';
import { checkIndex, FrameLru, resolveRange } from './iterable.js';
import type { FrameSource, SourceInfo, SourceKind } from './types.js';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png'];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/**
 * Naturally sorted image file names (not paths) in `dir`. Hidden files are skipped: they include
 * the `.partial` temporaries of an interrupted writer.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(dir);
  } catch {
    throw new InputError(dir, 'directory does not exist');
  }
  if (!st.isDirectory()) throw new InputError(dir, 'is not a directory');
  const entries = await readdir(dir, { withFileTypes: true });
  return naturalSort(
    entries.filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()) && isImageFile(e.name)).map((e) => e.name),
  );
}

/**
 * Gaps in the numbering of frame names, as inclusive [first, last] missing ranges. Only checked
 * when every name is `<common prefix><number>` (e.g. `00001.jpg`, `frame_12.png`); other naming
 * schemes have no numbering to check.
 */
export function findNumberingGaps(names: readonly string[]): Array<[number, number]> {
  let prefix: string | undefined;
  const numbers: number[] = [];
  for (const name of names) {
    const stem = basename(name, extname(name));
    const m = /^(.*?)(\d+)$/.exec(stem);
    if (m === null) return [];
    if (prefix === undefined) prefix = m[1];
    else if (prefix !== m[1]) return [];
    numbers.push(Number(m[2]));
  }
  numbers.sort((a, b) => a - b);
  const gaps: Array<[number, number]> = [];
  for (let i = 1; i < numbers.length; i++) {
    const a = numbers[i - 1] as number;
    const b = numbers[i] as number;
    if (b > a + 1) gaps.push([a + 1, b - 1]);
  }
  return gaps;
}

export function describeGaps(gaps: ReadonlyArray<[number, number]>, limit = 5): string {
  const parts = gaps.slice(0, limit).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
  if (gaps.length > limit) parts.push(`and ${gaps.length - limit} more gaps`);
  return `missing frames ${parts.join(', ')}`;
}

export interface FolderOptions {
  /** Receives warnings such as numbering gaps (default console.warn). */
  onWarning?: (message: string) => void;
  /** Decoded frames kept for random access (default 8). */
  cacheSize?: number;
  /** Frame rate to report in `info.fps` (an image folder has none of its own). */
  fps?: number;
  /**
   * Read every file's header at open to check that all frames share one size (default true).
   * When false, a mismatch is reported when the odd frame is decoded.
   */
  checkSizes?: boolean;
  signal?: AbortSignal;
}

/** libvips repeats its warnings inside error messages: the first line says it. */
function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}

/** Decode one image file to interleaved 8-bit RGB (grey and RGBA are converted, 16-bit reduced). */
export async function decodeImageRgb(path: string): Promise<{ width: number; height: number; data: Uint8Array }> {
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(path).removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new InputError(path, `cannot decode image: ${firstLine(err)}`, { cause: err });
  }
  const { width, height, channels } = out.info;
  if (channels !== 3) throw new InputError(path, `decoded to ${channels} channels, expected 3 (RGB)`);
  return { width, height, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length) };
}

/** Open an image folder as a `FrameSource`. */
export async function openImageFolder(dir: string, opts: FolderOptions = {}): Promise<ImageFolderSource> {
  const names = await listImageFiles(dir);
  if (names.length === 0) throw new InputError(dir, `contains no image files (${IMAGE_EXTENSIONS.join(', ')})`);
  return createImageSequence(
    dir,
    names.map((n) => join(dir, n)),
    'folder',
    opts,
  );
}

/**
 * Validate an ordered list of frame files (shared by folders and the DAVIS layout): warns about
 * numbering gaps, reads every header (when `checkSizes`), and returns the frame size with the
 * frames that cannot be used (unreadable header or another size). Those are reported as a warning
 * now and as an error when they are read, so a folder that breaks at frame N still yields the
 * frames before N. Only a bad first frame fails here: it gives the video its size.
 */
export async function inspectImageSequence(
  origin: string,
  files: readonly string[],
  opts: FolderOptions = {},
): Promise<{ width: number; height: number; bad: Map<number, InputError> }> {
  const warn = opts.onWarning ?? ((m: string) => console.warn(m));
  const gaps = findNumberingGaps(files);
  if (gaps.length > 0) warn(`${origin}: ${describeGaps(gaps)} (numbering has gaps; frames are indexed consecutively in name order)`);
  const first = files[0];
  if (first === undefined) throw new InputError(origin, 'contains no frames');
  const size = await readSize(first);
  const bad = (opts.checkSizes ?? true) ? await checkAllSizes(files, size, opts.signal) : new Map<number, InputError>();
  if (bad.size > 0) {
    const [index, err] = bad.entries().next().value as [number, InputError];
    warn(
      `${err.message}${bad.size > 1 ? ` (and ${bad.size - 1} more unusable frames)` : ''}: frame ${index} and those after it cannot be propagated`,
    );
  }
  return { ...size, bad };
}

/** A frame source over an ordered list of image files. */
export async function createImageSequence(
  origin: string,
  files: readonly string[],
  kind: SourceKind,
  opts: FolderOptions = {},
): Promise<ImageFolderSource> {
  const { width, height, bad } = await inspectImageSequence(origin, files, opts);
  return new ImageFolderSource(origin, files, kind, { width, height }, opts, bad);
}

async function readSize(file: string): Promise<{ width: number; height: number }> {
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (err) {
    throw new InputError(file, `cannot read image header: ${firstLine(err)}`, { cause: err });
  }
  if (!meta.width || !meta.height) throw new InputError(file, 'image header has no size');
  return { width: meta.width, height: meta.height };
}

/** Header-only check of every file, a few at a time: the frames whose header is unreadable or whose size differs. */
async function checkAllSizes(
  files: readonly string[],
  size: { width: number; height: number },
  signal?: AbortSignal,
): Promise<Map<number, InputError>> {
  const batch = 16;
  const bad = new Map<number, InputError>();
  for (let i = 1; i < files.length; i += batch) {
    throwIfAborted(signal);
    const slice = files.slice(i, i + batch);
    const sizes = await Promise.all(slice.map((f) => readSize(f).catch((err: unknown) => err as Error)));
    sizes.forEach((s, k) => {
      const index = i + k;
      if (s instanceof Error) {
        bad.set(index, new InputError(slice[k] as string, `(frame ${index}) ${s instanceof InputError ? s.problem : s.message}`));
        return;
      }
      if (s.width !== size.width || s.height !== size.height) {
        bad.set(
          index,
          new InputError(
            slice[k] as string,
            `(frame ${index}) is ${s.width}x${s.height} but the first frame (${basename(files[0] as string)}) is ${size.width}x${size.height}; all frames must share one size`,
          ),
        );
      }
    });
  }
  return bad;
}

export class ImageFolderSource implements FrameSource {
  readonly info: SourceInfo;
  /** Full paths of the frames, in frame order. */
  readonly files: readonly string[];
  private readonly cache: FrameLru;
  /** Decodes in flight, so concurrent requests for one frame share one decode. */
  private readonly pending = new Map<number, Promise<IndexedFrame>>();
  private readonly signal: AbortSignal | undefined;
  private closed = false;

  constructor(
    origin: string,
    files: readonly string[],
    kind: SourceKind,
    size: { width: number; height: number },
    opts: FolderOptions = {},
    /** Frames found unusable when the source was opened (see inspectImageSequence). */
    private readonly bad: ReadonlyMap<number, InputError> = new Map(),
  ) {
    this.files = files;
    this.info = { kind, origin, width: size.width, height: size.height, frameCount: files.length, fps: opts.fps };
    this.cache = new FrameLru(opts.cacheSize ?? 8);
    this.signal = opts.signal;
  }

  private decode(index: number): Promise<IndexedFrame> {
    const hit = this.cache.get(index);
    if (hit) return Promise.resolve(hit);
    const running = this.pending.get(index);
    if (running) return running;
    const file = this.files[index] as string;
    const known = this.bad.get(index);
    if (known) return Promise.reject(known);
    const p = decodeImageRgb(file)
      .catch((err: unknown) => {
        throw err instanceof InputError ? new InputError(err.file, `(frame ${index}) ${err.problem}`, { cause: err }) : err;
      })
      .then((img) => {
        if (img.width !== this.info.width || img.height !== this.info.height) {
          throw new InputError(
            file,
            `(frame ${index}) is ${img.width}x${img.height} but the first frame is ${this.info.width}x${this.info.height}; all frames must share one size`,
          );
        }
        const f: IndexedFrame = { width: img.width, height: img.height, data: img.data, index };
        if (!this.closed) this.cache.set(f);
        return f;
      })
      .finally(() => this.pending.delete(index));
    this.pending.set(index, p);
    return p;
  }

  private checkOpen(): void {
    throwIfAborted(this.signal);
    if (this.closed) throw new AbortError(`${this.info.origin}: source closed`);
  }

  async frame(index: number): Promise<IndexedFrame> {
    checkIndex(this.info.origin, index, this.info.frameCount);
    this.checkOpen();
    return this.decode(index);
  }

  /** Streams in order, decoding up to two frames ahead so decoding overlaps the consumer's work. */
  async *frames(from?: number, to?: number): AsyncGenerator<IndexedFrame> {
    const [start, end] = resolveRange(this.info.origin, from, to, this.info.frameCount);
    const ahead = 2;
    const queue: Promise<IndexedFrame>[] = [];
    let nextToStart = start;
    const fill = () => {
      while (queue.length <= ahead && nextToStart < end) {
        const p = this.decode(nextToStart++);
        p.catch(() => undefined); // awaited below; avoid an unhandled rejection if we stop first
        queue.push(p);
      }
    };
    for (let i = start; i < end; i++) {
      this.checkOpen();
      fill();
      const f = await (queue.shift() as Promise<IndexedFrame>);
      yield f;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<IndexedFrame> {
    return this.frames()[Symbol.asyncIterator]();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    await Promise.allSettled([...this.pending.values()]);
  }
}
