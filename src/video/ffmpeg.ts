/**
 * Video files through the system `ffmpeg`/`ffprobe` binaries (PEERS P17: never download a binary
 * at install time; `fluent-ffmpeg` is archived). Frames stream as raw RGB over a pipe, one frame
 * pulled at a time, so memory does not grow with the video's length.
 *
 * Binaries: `ffmpeg`/`ffprobe` on PATH, overridable per call or with `VPROP_FFMPEG`/`VPROP_FFPROBE`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AbortError, InputError, throwIfAborted } from '../core/errors.js';
import type { IndexedFrame } from '../core/types.js';
import { checkIndex, FrameLru, Mutex, resolveRange } from './iterable.js';
import type { FrameSource, SourceInfo } from './types.js';

export interface FfmpegBinaries {
  /** Path or name of the ffmpeg binary (default `$VPROP_FFMPEG` or `ffmpeg`). */
  ffmpegPath?: string;
  /** Path or name of the ffprobe binary (default `$VPROP_FFPROBE` or `ffprobe`). */
  ffprobePath?: string;
}

/** The ffmpeg/ffprobe binary could not be started. */
export class MissingFfmpegError extends Error {
  readonly binary: string;
  constructor(binary: string, options?: { cause?: unknown }) {
    super(
      `${binary} was not found or could not be started. vprop reads and writes video files through the system FFmpeg: ` +
        'install it (Debian/Ubuntu: `apt-get install ffmpeg`, macOS: `brew install ffmpeg`) ' +
        'or point VPROP_FFMPEG / VPROP_FFPROBE at the binaries.',
      options,
    );
    this.name = 'MissingFfmpegError';
    this.binary = binary;
  }
}

export function ffmpegBinary(opts?: FfmpegBinaries): string {
  return opts?.ffmpegPath ?? process.env.VPROP_FFMPEG ?? 'ffmpeg';
}
export function ffprobeBinary(opts?: FfmpegBinaries): string {
  return opts?.ffprobePath ?? process.env.VPROP_FFPROBE ?? 'ffprobe';
}

/** Keeps the last `limit` characters of a child's stderr: enough for the error, bounded memory. */
export class StderrTail {
  private text = '';
  constructor(private readonly limit = 4000) {}
  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }
  toString(): string {
    return this.text.slice(-this.limit).trim();
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be spawned at all. */
  spawnError?: Error;
}

/** Promise of a child's exit that never rejects (spawn failures are reported in the status). */
export function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (s: ExitStatus) => {
      if (!done) {
        done = true;
        resolve(s);
      }
    };
    child.once('error', (err) => {
      // 'error' without a pid means the spawn failed; 'close' may never follow.
      if (child.pid === undefined) finish({ code: null, signal: null, spawnError: err });
    });
    child.once('close', (code, signal) => finish({ code, signal }));
  });
}

function isMissingBinary(err: Error | undefined): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EACCES';
}

/** Run a tool to completion, collecting stdout. */
async function runTool(bin: string, args: string[], signal?: AbortSignal): Promise<{ stdout: string; stderr: string; status: ExitStatus }> {
  throwIfAborted(signal);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = exitOf(child);
  const out: Buffer[] = [];
  const err = new StderrTail();
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  const status = await exited;
  signal?.removeEventListener('abort', onAbort);
  if (status.spawnError) {
    if (isMissingBinary(status.spawnError)) throw new MissingFfmpegError(bin, { cause: status.spawnError });
    throw status.spawnError;
  }
  throwIfAborted(signal);
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: err.toString(), status };
}

export interface VideoProbe {
  /** Width and height of decoded frames (after applying display rotation, as ffmpeg outputs them). */
  width: number;
  height: number;
  /** Average frame rate (falls back to the nominal rate); undefined when the container has none. */
  fps: number | undefined;
  frameCount: number;
  /** Whether `frameCount` came from counting packets (the header had no frame count). */
  frameCountCounted: boolean;
  durationSeconds: number | undefined;
  codec: string | undefined;
}

function parseRate(r: unknown): number | undefined {
  if (typeof r !== 'string') return undefined;
  const [n, d] = r.split('/').map(Number);
  if (n === undefined || !Number.isFinite(n) || n <= 0) return undefined;
  const v = d === undefined ? n : n / d;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

function parsePositiveInt(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : Number.NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

async function assertFile(path: string): Promise<void> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch {
    throw new InputError(path, 'file does not exist');
  }
  if (!st.isFile()) throw new InputError(path, 'is not a file');
}

/**
 * Size, frame rate and frame count of the first video stream. The count comes from the header
 * (`nb_frames`) when present, otherwise from counting packets (AVI and Matroska often lack it),
 * which reads the whole file once but decodes nothing.
 */
export async function probeVideo(path: string, opts: FfmpegBinaries & { signal?: AbortSignal } = {}): Promise<VideoProbe> {
  await assertFile(path);
  const bin = ffprobeBinary(opts);
  const entries =
    'stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_frames,nb_read_packets,duration:stream_side_data=rotation:stream_tags=rotate';
  const base = ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', path];
  const readStream = async (args: string[]) => {
    const r = await runTool(bin, args, opts.signal);
    if (r.status.code !== 0)
      throw new InputError(path, `not a readable video file: ${r.stderr || `ffprobe exited with code ${r.status.code}`}`);
    let json: { streams?: Record<string, unknown>[] };
    try {
      json = JSON.parse(r.stdout) as typeof json;
    } catch {
      throw new InputError(path, 'ffprobe returned unparseable output');
    }
    const s = json.streams?.[0];
    if (s === undefined) throw new InputError(path, 'contains no video stream');
    return s;
  };
  let s = await readStream(base);
  let width = parsePositiveInt(s.width);
  let height = parsePositiveInt(s.height);
  if (width === undefined || height === undefined) throw new InputError(path, 'video stream has no frame size (unsupported or corrupt)');
  let frameCount = parsePositiveInt(s.nb_frames);
  let counted = false;
  if (frameCount === undefined) {
    s = await readStream(['-count_packets', ...base]);
    frameCount = parsePositiveInt(s.nb_read_packets);
    counted = true;
  }
  if (frameCount === undefined) throw new InputError(path, 'video stream has no frames');
  // Phone videos store a display rotation; ffmpeg auto-rotates on decode, so swap to match.
  const sideData = (s.side_data_list as { rotation?: number }[] | undefined) ?? [];
  const tags = (s.tags as { rotate?: string } | undefined) ?? {};
  const rotation = Number(sideData.find((d) => d.rotation !== undefined)?.rotation ?? tags.rotate ?? 0);
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];
  const duration = Number(s.duration);
  return {
    width,
    height,
    fps: parseRate(s.avg_frame_rate) ?? parseRate(s.r_frame_rate),
    frameCount,
    frameCountCounted: counted,
    durationSeconds: Number.isFinite(duration) ? duration : undefined,
    codec: typeof s.codec_name === 'string' ? s.codec_name : undefined,
  };
}

/**
 * Presentation timestamps of every frame (seconds, relative to the file's start time, sorted), used
 * to seek exactly: seeking to the midpoint between frame i-1 and frame i makes ffmpeg's accurate
 * seek return frame i whatever the rounding. Null when timestamps are missing or not distinct,
 * in which case seeking falls back to decoding from the start and counting frames.
 */
async function readSeekTable(path: string, expected: number, opts: FfmpegBinaries): Promise<Float64Array | null> {
  const r = await runTool(ffprobeBinary(opts), [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time:format=start_time',
    '-of',
    'compact=p=0:nk=1',
    path,
  ]);
  if (r.status.code !== 0) return null;
  const lines = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  // compact output: one line per packet (its pts_time), then the format line (start_time).
  const start = Number(lines.pop());
  if (!Number.isFinite(start) || lines.length !== expected) return null;
  const t = new Float64Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const v = Number(lines[i]);
    if (!Number.isFinite(v)) return null;
    t[i] = v - start;
  }
  t.sort();
  for (let i = 1; i < t.length; i++) if (!((t[i] as number) > (t[i - 1] as number))) return null;
  return t;
}

/**
 * One ffmpeg process decoding to raw RGB on stdout. `read()` pulls exactly one frame; stdout is
 * consumed only on demand, so the kernel pipe fills and ffmpeg blocks: backpressure, not buffering.
 */
export class RawVideoDecoder {
  readonly child: ChildProcess;
  /** Index of the frame the next `read()` returns. */
  next: number;
  private readonly chunks: AsyncIterator<Buffer>;
  private leftover: Buffer | null = null;
  private readonly stderr = new StderrTail();
  private readonly exited: Promise<ExitStatus>;
  private killed = false;
  private finished = false;

  constructor(
    private readonly bin: string,
    args: string[],
    private readonly file: string,
    private readonly frameBytes: number,
    firstIndex: number,
  ) {
    this.next = firstIndex;
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = exitOf(this.child);
    this.child.stderr?.on('data', (c: Buffer) => this.stderr.push(c));
    this.chunks = (this.child.stdout as Readable)[Symbol.asyncIterator]();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The next frame, or null at the end of the stream. */
  async read(): Promise<Uint8Array | null> {
    if (this.finished) return null;
    const out = new Uint8Array(this.frameBytes);
    let filled = 0;
    while (filled < this.frameBytes) {
      let chunk = this.leftover;
      this.leftover = null;
      if (chunk === null) {
        let r: IteratorResult<Buffer>;
        try {
          r = await this.chunks.next();
        } catch (err) {
          if (this.killed) throw new AbortError('decoder closed');
          throw err;
        }
        if (r.done) break;
        chunk = r.value;
      }
      const take = Math.min(chunk.length, this.frameBytes - filled);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.length) this.leftover = chunk.subarray(take);
    }
    if (filled === this.frameBytes) {
      this.next++;
      return out;
    }
    this.finished = true;
    if (this.killed) throw new AbortError('decoder closed');
    const status = await this.exited;
    if (status.spawnError) {
      if (isMissingBinary(status.spawnError)) throw new MissingFfmpegError(this.bin, { cause: status.spawnError });
      throw status.spawnError;
    }
    if (status.code !== 0) {
      throw new InputError(
        this.file,
        `ffmpeg failed to decode frame ${this.next}: ${this.stderr.toString() || `exit code ${status.code ?? status.signal}`}`,
      );
    }
    if (filled > 0)
      throw new InputError(this.file, `decoder output ended inside frame ${this.next} (${filled} of ${this.frameBytes} bytes)`);
    return null;
  }

  /** Stop the process and wait until it has exited (no zombie, no orphan). */
  async kill(): Promise<void> {
    if (!this.killed) {
      this.killed = true;
      this.finished = true;
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      // Closing our end lets the stream settle without waiting for more data.
      await this.chunks.return?.();
    }
    await this.exited;
  }
}

export interface OpenVideoFileOptions extends FfmpegBinaries {
  signal?: AbortSignal;
  /** Frames kept for random access (default 8). */
  cacheSize?: number;
  /**
   * How far ahead of the random-access decoder `frame(i)` still decodes forward instead of
   * restarting with a seek (default 48 frames: cheaper than re-decoding a GOP).
   */
  maxForwardDecode?: number;
  /** Called when a file has fewer frames than its header announced (default console.warn). */
  onWarning?: (message: string) => void;
}

/** Open a video file as a `FrameSource`. Probes it first, so bad files fail here with an `InputError`. */
export async function openVideoFile(path: string, opts: OpenVideoFileOptions = {}): Promise<VideoFileSource> {
  const probe = await probeVideo(path, opts);
  return new VideoFileSource(path, probe, opts);
}

export class VideoFileSource implements FrameSource {
  readonly info: SourceInfo;
  readonly probe: VideoProbe;
  private readonly path: string;
  private readonly opts: OpenVideoFileOptions;
  private readonly cache: FrameLru;
  private readonly mutex = new Mutex();
  private readonly live = new Set<RawVideoDecoder>();
  private readonly frameBytes: number;
  private readonly maxForward: number;
  private readonly onWarning: (message: string) => void;
  /** The decoder serving `frame(i)`; continues forward while requests move forward. */
  private ra: RawVideoDecoder | null = null;
  private lastRequested = -1;
  private seekTable: Promise<Float64Array | null> | undefined;
  /** Frames actually decodable, learnt when a decoder reaches the end early. */
  private decodedCount: number | undefined;
  private closed = false;
  private readonly onAbort = () => void this.close();

  constructor(path: string, probe: VideoProbe, opts: OpenVideoFileOptions = {}) {
    this.path = path;
    this.probe = probe;
    this.opts = opts;
    this.info = { kind: 'video', origin: path, width: probe.width, height: probe.height, frameCount: probe.frameCount, fps: probe.fps };
    this.cache = new FrameLru(opts.cacheSize ?? 8);
    this.frameBytes = probe.width * probe.height * 3;
    this.maxForward = opts.maxForwardDecode ?? 48;
    this.onWarning = opts.onWarning ?? ((m) => console.warn(m));
    opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Process ids of running decoders (for diagnostics and tests). */
  get decoderPids(): number[] {
    return [...this.live].map((d) => d.pid).filter((p): p is number => p !== undefined);
  }

  private checkOpen(): void {
    throwIfAborted(this.opts.signal);
    if (this.closed) throw new AbortError(`${this.path}: source closed`);
  }

  /** Start a decoder whose first output frame is `from`. */
  private async startDecoder(from: number): Promise<RawVideoDecoder> {
    const input: string[] = [];
    const filters: string[] = [];
    if (from > 0) {
      this.seekTable ??= readSeekTable(this.path, this.probe.frameCount, this.opts);
      const table = await this.seekTable;
      this.checkOpen();
      if (table !== null) {
        const mid = ((table[from - 1] as number) + (table[from] as number)) / 2;
        input.push('-ss', mid.toFixed(6));
      } else {
        // No usable timestamps: count decoded frames instead (exact, but decodes from the start).
        filters.push(`select=gte(n\\,${from})`);
      }
    }
    const { width, height } = this.probe;
    const args = [
      '-nostdin',
      '-hide_banner',
      '-v',
      'error',
      ...input,
      '-i',
      this.path,
      '-map',
      '0:v:0',
      ...(filters.length ? ['-vf', filters.join(',')] : []),
      // passthrough: one output frame per decoded frame (no duplication/dropping to a nominal
      // rate), so frame n of the pipe is frame n of the file. -vsync works on ffmpeg 4.x to 7.x.
      '-vsync',
      'passthrough',
      // A fixed output size keeps frames aligned in the pipe even if the stream changes size.
      '-s',
      `${width}x${height}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ];
    const dec = new RawVideoDecoder(ffmpegBinary(this.opts), args, this.path, this.frameBytes, from);
    this.live.add(dec);
    return dec;
  }

  private async stopDecoder(dec: RawVideoDecoder): Promise<void> {
    this.live.delete(dec);
    await dec.kill();
  }

  private endedEarly(at: number): void {
    if (this.decodedCount === undefined || at < this.decodedCount) {
      this.decodedCount = at;
      this.onWarning(`${this.path}: the header announces ${this.probe.frameCount} frames but only ${at} could be decoded`);
    }
  }

  private wrap(data: Uint8Array, index: number): IndexedFrame {
    const f: IndexedFrame = { width: this.probe.width, height: this.probe.height, data, index };
    this.cache.set(f);
    return f;
  }

  /**
   * Random access. Served from the cache, by continuing the random-access decoder when it is at or
   * a little before `index`, or by restarting it with an exact seek. When requests move backwards
   * (reverse propagation), the restart begins `cacheSize - 1` frames early and caches them, so a
   * reverse scan costs one seek per `cacheSize` frames rather than one per frame.
   */
  async frame(index: number): Promise<IndexedFrame> {
    checkIndex(this.path, index, this.info.frameCount);
    return this.mutex.run(async () => {
      this.checkOpen();
      const backwards = index < this.lastRequested;
      this.lastRequested = index;
      const hit = this.cache.get(index);
      if (hit) return hit;
      if (this.decodedCount !== undefined && index >= this.decodedCount) {
        throw new InputError(
          this.path,
          `frame ${index} cannot be decoded: the video ends after ${this.decodedCount} frames although its header announces ${this.probe.frameCount}`,
        );
      }
      let dec = this.ra;
      if (dec === null || dec.next > index || index - dec.next > this.maxForward) {
        if (dec !== null) await this.stopDecoder(dec);
        const start = backwards ? Math.max(0, index - Math.max(0, this.cache.capacity - 1)) : index;
        dec = await this.startDecoder(start);
        this.ra = dec;
      }
      try {
        for (;;) {
          const i = dec.next;
          const data = await dec.read();
          if (data === null) {
            this.endedEarly(i);
            await this.stopDecoder(dec);
            this.ra = null;
            throw new InputError(
              this.path,
              `frame ${index} cannot be decoded: the video ends after ${i} frames although its header announces ${this.probe.frameCount}`,
            );
          }
          const f = this.wrap(data, i);
          if (i === index) return f;
        }
      } catch (err) {
        if (this.ra === dec) {
          this.ra = null;
          await this.stopDecoder(dec);
        }
        throw err;
      }
    });
  }

  /** Stream [from, to) with its own decoder; breaking out of the loop kills it. */
  async *frames(from?: number, to?: number): AsyncGenerator<IndexedFrame> {
    const [start, end] = resolveRange(this.path, from, to, this.info.frameCount);
    if (start >= end) return;
    this.checkOpen();
    const dec = await this.startDecoder(start);
    try {
      for (let i = start; i < end; i++) {
        this.checkOpen();
        const data = await dec.read();
        if (data === null) {
          this.endedEarly(i);
          return;
        }
        yield this.wrap(data, i);
      }
    } finally {
      await this.stopDecoder(dec);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<IndexedFrame> {
    return this.frames()[Symbol.asyncIterator]();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.opts.signal?.removeEventListener('abort', this.onAbort);
    this.ra = null;
    this.cache.clear();
    await Promise.all([...this.live].map((d) => this.stopDecoder(d)));
  }
}
