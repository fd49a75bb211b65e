/**
 * Frame sinks. All outputs are atomic: each file is written under a temporary sibling name and
 * renamed into place when complete, so a crash never leaves a half-written frame or video under
 * the final name. Folder sinks are resumable: `existingIndices()` lists frames already finished.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import type { Writable } from 'node:stream';
import sharp from 'sharp';
import type { LabelImage, PropertyMap, RgbFrame } from '../core/types.js';
import { encodeExr } from '../formats/exr.js';
import { encodeNpy } from '../formats/npy.js';
import { DAVIS_PALETTE, encodePalettePng, encodeRgbPng } from '../formats/png.js';
import { temporarySibling } from '../util/atomic.js';
import { type ExitStatus, exitOf, ffmpegBinary, MissingFfmpegError, StderrTail } from './ffmpeg.js';
import type { FrameSink } from './types.js';

/** `%05d.png` style file-name patterns (`%d` or `%0Nd`, exactly once). */
export class FramePattern {
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly width: number;
  private readonly regex: RegExp;
  constructor(readonly pattern: string) {
    const m = /^(.*?)%(0?\d*)d(.*)$/.exec(pattern);
    if (m === null || m[3]?.includes('%') || m[1]?.includes('%'))
      throw new Error(`file pattern "${pattern}" must contain exactly one %d or %0Nd`);
    this.prefix = m[1] as string;
    this.suffix = m[3] as string;
    this.width = m[2] ? Number(m[2]) : 0;
    if (/[/\\]/.test(pattern)) throw new Error(`file pattern "${pattern}" must be a file name, not a path`);
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.regex = new RegExp(`^${esc(this.prefix)}(\\d+)${esc(this.suffix)}$`);
  }
  format(index: number): string {
    if (!Number.isInteger(index) || index < 0) throw new RangeError(`frame index must be a non-negative integer, got ${index}`);
    return `${this.prefix}${String(index).padStart(this.width, '0')}${this.suffix}`;
  }
  /** The index a file name stands for, or undefined when it does not follow the pattern exactly. */
  parse(name: string): number | undefined {
    const m = this.regex.exec(name);
    if (m === null) return undefined;
    const index = Number(m[1]);
    return this.format(index) === name ? index : undefined;
  }
  get extension(): string {
    // not path.extname: it returns '' for a suffix that is only an extension (".png")
    const dot = this.suffix.lastIndexOf('.');
    return dot >= 0 ? this.suffix.slice(dot).toLowerCase() : '';
  }
}

/**
 * Shared machinery of the one-file-per-frame sinks: atomic writes, tracking of temporaries so
 * `abort()` can remove them, and resumption.
 */
abstract class AtomicFolderSink<T> implements FrameSink<T> {
  readonly dir: string;
  protected readonly names: FramePattern;
  private readonly temps = new Set<string>();
  private readonly inflight = new Set<Promise<void>>();
  private state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(dir: string, pattern: string) {
    this.dir = dir;
    this.names = new FramePattern(pattern);
  }

  protected abstract encode(index: number, item: T): Promise<Uint8Array> | Uint8Array;

  /** Final path of frame `index`. */
  pathOf(index: number): string {
    return join(this.dir, this.names.format(index));
  }

  /** Indices whose files are already complete (an interrupted run skips these when it resumes). */
  async existingIndices(): Promise<Set<number>> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
      throw err;
    }
    const out = new Set<number>();
    for (const n of names) {
      const i = this.names.parse(n);
      if (i !== undefined) out.add(i);
    }
    return out;
  }

  write(index: number, item: T): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new Error(`${this.dir}: sink is ${this.state}`));
    const p = this.writeOne(index, item);
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private async writeOne(index: number, item: T): Promise<void> {
    const path = this.pathOf(index);
    const data = await this.encode(index, item);
    await mkdir(this.dir, { recursive: true });
    const tmp = temporarySibling(path);
    this.temps.add(tmp);
    try {
      await writeFile(tmp, data);
      if (this.state === 'aborted') throw new Error(`${this.dir}: sink aborted while writing ${path}`);
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      this.temps.delete(tmp);
    }
  }

  /** Wait for pending writes; every written frame is then in place under its final name. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closed';
    const results = await Promise.allSettled([...this.inflight]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Stop: pending writes are not renamed into place and their temporaries are removed. Finished frames stay (for resuming). */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    await Promise.allSettled([...this.inflight]);
    await Promise.all([...this.temps].map((t) => rm(t, { force: true })));
  }
}

export interface FolderSinkOptions {
  /** File-name pattern, `%05d.png` by default (DAVIS naming). */
  pattern?: string;
}

/** Label images as indexed-palette PNGs (pixel value = object id), DAVIS style. */
export class PaletteFolderSink extends AtomicFolderSink<LabelImage> {
  private readonly palette: Uint8Array | undefined;
  constructor(dir: string, opts: FolderSinkOptions & { palette?: Uint8Array } = {}) {
    super(dir, opts.pattern ?? '%05d.png');
    if (this.names.extension !== '.png')
      throw new Error(`PaletteFolderSink writes PNG files; pattern "${this.names.pattern}" must end in .png`);
    this.palette = opts.palette;
  }
  protected encode(_index: number, labels: LabelImage): Uint8Array {
    if (labels.data.length !== labels.width * labels.height)
      throw new Error(`label image has ${labels.data.length} values, expected ${labels.width}x${labels.height}`);
    return encodePalettePng(labels, this.palette);
  }
}

/** RGB frames as PNG (lossless) or JPEG, chosen by the pattern's extension. */
export class RgbFolderSink extends AtomicFolderSink<RgbFrame> {
  private readonly quality: number;
  constructor(dir: string, opts: FolderSinkOptions & { quality?: number } = {}) {
    super(dir, opts.pattern ?? '%05d.png');
    if (!['.png', '.jpg', '.jpeg'].includes(this.names.extension))
      throw new Error(`RgbFolderSink writes .png or .jpg files, not "${this.names.pattern}"`);
    this.quality = opts.quality ?? 95;
  }
  protected async encode(_index: number, frame: RgbFrame): Promise<Uint8Array> {
    checkRgb(frame);
    if (this.names.extension === '.png') return encodeRgbPng(frame);
    return sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } })
      .jpeg({ quality: this.quality })
      .toBuffer();
  }
}

/** Linear HDR radiance: planar Float32 `data[c * width * height + y * width + x]`, c = R, G, B. */
export interface RadianceFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** HDR frames as OpenEXR files (half float, ZIP compression), one per frame. */
export class ExrSequenceSink extends AtomicFolderSink<RadianceFrame> {
  constructor(dir: string, opts: FolderSinkOptions = {}) {
    super(dir, opts.pattern ?? '%05d.exr');
    if (this.names.extension !== '.exr')
      throw new Error(`ExrSequenceSink writes .exr files; pattern "${this.names.pattern}" must end in .exr`);
  }
  protected async encode(_index: number, f: RadianceFrame): Promise<Uint8Array> {
    if (f.data.length !== 3 * f.width * f.height)
      throw new Error(`radiance frame has ${f.data.length} values, expected 3x${f.width}x${f.height} (planar RGB)`);
    return encodeExr({ width: f.width, height: f.height, channels: ['R', 'G', 'B'], data: f.data }, { type: 'half', compression: 'zip' });
  }
}

/**
 * Property maps (e.g. mask or class probabilities) as NumPy `.npy` files of shape (C, H, W),
 * float16 by default (probabilities need no more; a 854x480 two-channel map is 1.6 MB), readable
 * with `np.load` and by the flowgru engine's per-frame input.
 */
export class NpyFolderSink extends AtomicFolderSink<PropertyMap> {
  private readonly dtype: '<f2' | '<f4';
  constructor(dir: string, opts: FolderSinkOptions & { dtype?: 'float16' | 'float32' } = {}) {
    super(dir, opts.pattern ?? '%05d.npy');
    if (this.names.extension !== '.npy')
      throw new Error(`NpyFolderSink writes .npy files; pattern "${this.names.pattern}" must end in .npy`);
    this.dtype = opts.dtype === 'float32' ? '<f4' : '<f2';
  }
  protected encode(_index: number, m: PropertyMap): Uint8Array {
    if (m.data.length !== m.channels * m.width * m.height)
      throw new Error(`property map has ${m.data.length} values, expected ${m.channels}x${m.height}x${m.width}`);
    return encodeNpy(m.data, [m.channels, m.height, m.width], this.dtype);
  }
}

function checkRgb(frame: RgbFrame): void {
  if (frame.data.length !== frame.width * frame.height * 3) {
    throw new Error(`frame has ${frame.data.length} bytes, expected ${frame.width}x${frame.height}x3 (interleaved RGB)`);
  }
}

export interface VideoSinkOptions {
  width: number;
  height: number;
  fps: number;
  /** Constant rate factor: lower is better quality (default 18, visually near-lossless for x264). */
  crf?: number;
  /** Encoder (default libx264, or libvpx-vp9 for .webm). */
  codec?: string;
  /** Output pixel format (default yuv420p: plays everywhere). */
  pixelFormat?: string;
  /** Encoder preset (x264 only; default `medium`). */
  preset?: string;
  ffmpegPath?: string;
}

const MUXERS: Record<string, string> = { '.mp4': 'mp4', '.m4v': 'mp4', '.mov': 'mov', '.mkv': 'matroska', '.webm': 'webm' };

/**
 * Encodes RGB frames into a video file by piping raw RGB into `ffmpeg`. Frames must arrive in
 * order 0, 1, 2, ... Output goes to a temporary sibling that `close()` renames into place;
 * `abort()` kills ffmpeg and deletes it. A video cannot be appended to, so this sink is not
 * resumable: an interrupted run re-encodes from the start.
 *
 * With a 4:2:0 pixel format, odd sizes are padded to even by repeating the last row/column
 * (H.264 needs even sizes; its cropping cannot remove a single pixel in 4:2:0), so the file is
 * then up to one pixel wider/taller than the frames. Colours are converted and tagged as BT.709.
 */
export class Mp4Sink implements FrameSink<RgbFrame> {
  readonly path: string;
  readonly tempPath: string;
  private readonly opts: VideoSinkOptions;
  private child: ChildProcess | null = null;
  private exited: Promise<ExitStatus> | null = null;
  private readonly stderr = new StderrTail();
  private nextIndex = 0;
  private state: 'open' | 'closed' | 'aborted' = 'open';
  private failure: Error | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string, opts: VideoSinkOptions) {
    const ext = extname(path).toLowerCase();
    if (MUXERS[ext] === undefined) throw new Error(`${path}: unsupported video extension "${ext}" (use ${Object.keys(MUXERS).join(', ')})`);
    if (!(Number.isInteger(opts.width) && opts.width > 0 && Number.isInteger(opts.height) && opts.height > 0))
      throw new Error(`${path}: invalid video size ${opts.width}x${opts.height}`);
    if (!(opts.fps > 0)) throw new Error(`${path}: invalid frame rate ${opts.fps}`);
    this.path = path;
    this.tempPath = temporarySibling(path);
    this.opts = opts;
  }

  /** Process id of the encoder once started (diagnostics and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Always empty: a partial video is discarded, so nothing survives an interrupted run. */
  async existingIndices(): Promise<Set<number>> {
    return new Set();
  }

  private args(): string[] {
    const { width, height, fps } = this.opts;
    const ext = extname(this.path).toLowerCase();
    const webm = ext === '.webm';
    const codec = this.opts.codec ?? (webm ? 'libvpx-vp9' : 'libx264');
    const pix = this.opts.pixelFormat ?? 'yuv420p';
    const crf = this.opts.crf ?? (webm ? 32 : 18);
    const filters: string[] = [];
    const subsampled = /^(yuv|yuvj)420|^nv12|^nv21/.test(pix);
    const padW = subsampled ? width % 2 : 0;
    const padH = subsampled ? height % 2 : 0;
    if (padW || padH) {
      // Pad in RGB, before conversion: converting an odd size to 4:2:0 first drops the last column/row.
      filters.push(`pad=${width + padW}:${height + padH}`, `fillborders=right=${padW}:bottom=${padH}:mode=smear`);
    }
    filters.push('scale=out_color_matrix=bt709:out_range=tv', `format=${pix}`);
    const codecArgs = ['-c:v', codec, '-crf', String(crf)];
    if (codec === 'libx264') codecArgs.push('-preset', this.opts.preset ?? 'medium');
    if (codec.startsWith('libvpx')) codecArgs.push('-b:v', '0');
    return [
      '-nostdin',
      '-hide_banner',
      '-v',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${width}x${height}`,
      '-framerate',
      String(fps),
      '-i',
      'pipe:0',
      '-vf',
      filters.join(','),
      ...codecArgs,
      '-pix_fmt',
      pix,
      '-colorspace',
      'bt709',
      '-color_primaries',
      'bt709',
      '-color_trc',
      'bt709',
      '-color_range',
      'tv',
      ...(MUXERS[ext] === 'mp4' || MUXERS[ext] === 'mov' ? ['-movflags', '+faststart'] : []),
      '-f',
      MUXERS[ext] as string,
      '-y',
      this.tempPath,
    ];
  }

  private async start(): Promise<ChildProcess> {
    await mkdir(dirname(this.path), { recursive: true });
    const bin = this.opts.ffmpegPath ?? ffmpegBinary();
    const child = spawn(bin, this.args(), { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    this.exited = exitOf(child);
    child.stderr?.on('data', (c: Buffer) => this.stderr.push(c));
    // EPIPE when ffmpeg dies: reported through the exit status instead of crashing the process.
    child.stdin?.on('error', () => undefined);
    return child;
  }

  private async encoderFailure(): Promise<Error> {
    const status = (await this.exited) as ExitStatus;
    if (status.spawnError) {
      const code = (status.spawnError as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES')
        return new MissingFfmpegError(this.opts.ffmpegPath ?? ffmpegBinary(), { cause: status.spawnError });
      return status.spawnError;
    }
    return new Error(`${this.path}: ffmpeg encoder failed (${status.code ?? status.signal}): ${this.stderr.toString() || 'no message'}`);
  }

  /** Write frame `index`; resolves once ffmpeg has taken the bytes (the pipe provides backpressure). */
  write(index: number, frame: RgbFrame): Promise<void> {
    // Chained so concurrent callers still feed ffmpeg strictly in order.
    const p = this.writing.then(() => this.writeOne(index, frame));
    this.writing = p.catch(() => undefined);
    return p;
  }

  private async writeOne(index: number, frame: RgbFrame): Promise<void> {
    if (this.state !== 'open') throw new Error(`${this.path}: sink is ${this.state}`);
    if (this.failure) throw this.failure;
    if (index !== this.nextIndex)
      throw new Error(`${this.path}: video frames must be written in order; expected frame ${this.nextIndex}, got ${index}`);
    if (frame.width !== this.opts.width || frame.height !== this.opts.height) {
      throw new Error(
        `${this.path}: frame ${index} is ${frame.width}x${frame.height}, the video is ${this.opts.width}x${this.opts.height}`,
      );
    }
    checkRgb(frame);
    const child = this.child ?? (await this.start());
    const stdin = child.stdin as Writable;
    const res = await new Promise<{ err: Error | null | undefined; accepted: boolean }>((resolve) => {
      const accepted: boolean = stdin.write(frame.data, (err) => resolve({ err, accepted }));
    });
    if (!res.err && !res.accepted && stdin.writableNeedDrain && !stdin.destroyed) {
      // Wait until ffmpeg has drained the pipe, or has died.
      await Promise.race([new Promise((r) => stdin.once('drain', r)), this.exited]);
    }
    // Any exit before close() is a failure (ffmpeg only finishes when stdin ends).
    if (res.err || stdin.destroyed || child.exitCode !== null || child.signalCode !== null) {
      this.failure = await this.encoderFailure();
      throw this.failure;
    }
    this.nextIndex++;
  }

  /** Finish encoding and move the file into place. */
  async close(): Promise<void> {
    if (this.state !== 'open') return;
    await this.writing;
    this.state = 'closed';
    try {
      if (this.failure) throw this.failure;
      if (this.child === null) throw new Error(`${this.path}: no frames were written; refusing to create an empty video`);
      this.child.stdin?.end();
      const status = (await this.exited) as ExitStatus;
      if (status.code !== 0) throw await this.encoderFailure();
      await rename(this.tempPath, this.path);
    } catch (err) {
      await rm(this.tempPath, { force: true });
      throw err;
    }
  }

  /** Kill the encoder and delete the partial file. */
  async abort(): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    if (this.child !== null) {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      this.child.stdin?.destroy();
      await this.exited;
    }
    await rm(this.tempPath, { force: true });
  }
}

export interface OverlayOptions {
  /** Colour of the 1-pixel object boundaries, or null for none (default black, as DAVIS figures). */
  boundary?: readonly [number, number, number] | null;
}

/**
 * Blend object colours over a frame (`out = (1 - alpha) * frame + alpha * colour` where the label
 * is non-zero) and draw 1-pixel boundaries where a labelled pixel touches a different label
 * (4-neighbourhood). For previews and overlay videos; the input frame is not modified.
 */
export function overlayMask(
  frame: RgbFrame,
  labels: LabelImage,
  palette: ArrayLike<number> = DAVIS_PALETTE,
  alpha = 0.5,
  opts: OverlayOptions = {},
): RgbFrame {
  const { width: w, height: h } = frame;
  if (labels.width !== w || labels.height !== h)
    throw new Error(`overlayMask: labels are ${labels.width}x${labels.height}, frame is ${w}x${h}`);
  checkRgb(frame);
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlayMask: alpha must be in [0, 1], got ${alpha}`);
  const boundary = opts.boundary === undefined ? ([0, 0, 0] as const) : opts.boundary;
  const src = frame.data;
  const lab = labels.data;
  const out = new Uint8Array(src);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const l = lab[i] as number;
      if (l === 0) continue;
      const o = i * 3;
      const isEdge =
        boundary !== null &&
        ((x > 0 && lab[i - 1] !== l) || (x < w - 1 && lab[i + 1] !== l) || (y > 0 && lab[i - w] !== l) || (y < h - 1 && lab[i + w] !== l));
      if (isEdge) {
        out[o] = boundary[0];
        out[o + 1] = boundary[1];
        out[o + 2] = boundary[2];
        continue;
      }
      const pc = l * 3;
      for (let c = 0; c < 3; c++) {
        const colour = (palette[pc + c] as number | undefined) ?? 255;
        out[o + c] = Math.round((1 - alpha) * (src[o + c] as number) + alpha * colour);
      }
    }
  }
  return { width: w, height: h, data: out };
}
