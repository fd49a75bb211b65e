/**
 * Uploads: request bodies streamed to a temporary file under the data folder with a byte limit,
 * the type taken from the content's magic bytes (never from a name or header the client chose),
 * then checked by opening them with the library (`openSource`), so a file that is not a
 * decodable video or frame folder, or has too many frames, is refused with a 4xx before anything
 * is kept. Names inside a zip of frames only decide the frames' order (natural sort); files are
 * stored as `frames/00000.<ext>`.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Unzip, UnzipInflate, UnzipPassThrough } from 'fflate';
import { InputError } from '../core/errors.js';
import { naturalCompare } from '../util/natural-sort.js';
import { openSource } from '../video/open.js';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export type UploadKind = 'mp4' | 'webm' | 'zip' | 'png' | 'jpg' | 'exr' | 'hdr';

/** What the first bytes say a file is (undefined: none of the types this service takes). */
export function sniff(head: Uint8Array): UploadKind | undefined {
  const ascii = (a: number, b: number) => String.fromCharCode(...head.subarray(a, b));
  if (head.length >= 12 && ascii(4, 8) === 'ftyp') return 'mp4'; // ISO-BMFF: mp4, m4v, mov
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return 'webm'; // EBML: webm, mkv
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip';
  if (head.length >= 8 && head[0] === 0x89 && ascii(1, 4) === 'PNG') return 'png';
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg';
  if (head.length >= 4 && head[0] === 0x76 && head[1] === 0x2f && head[2] === 0x31 && head[3] === 0x01) return 'exr';
  if (head.length >= 6 && (ascii(0, 10) === '#?RADIANCE' || ascii(0, 6) === '#?RGBE')) return 'hdr';
  return undefined;
}

/**
 * Stream `body` to `path` (created exclusively), at most `limit` bytes: a larger body is a 413 and
 * leaves nothing behind. Returns the byte count.
 */
export async function receiveBody(body: Readable, path: string, limit: number, declaredLength: number | undefined): Promise<number> {
  if (declaredLength !== undefined && declaredLength > limit) {
    body.resume();
    throw new HttpError(413, `upload is ${declaredLength} bytes; the limit is ${limit} bytes`);
  }
  let received = 0;
  const out = createWriteStream(path, { flags: 'wx' });
  try {
    await pipeline(
      body,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          received += chunk.length;
          if (received > limit) throw new HttpError(413, `upload is over the limit of ${limit} bytes`);
          yield chunk;
        }
      },
      out,
    );
  } catch (err) {
    await rm(path, { force: true });
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, `upload interrupted (${(err as Error).message})`);
  }
  if (received === 0) {
    await rm(path, { force: true });
    throw new HttpError(400, 'upload is empty');
  }
  return received;
}

export async function readHead(path: string, bytes = 16): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export interface VideoInfo {
  readonly kind: 'video' | 'frames';
  readonly width: number;
  readonly height: number;
  readonly frameCount: number;
  readonly fps: number | undefined;
  readonly bytes: number;
  /** The source inside the video folder: `source.mp4`, `source.webm` or `frames`. */
  readonly source: string;
}

export interface VideoLimits {
  readonly maxFrames: number;
  readonly maxPixels: number;
  /** Largest total size of a zip's frames once unpacked. */
  readonly maxUnpackedBytes: number;
}

/**
 * Turn an uploaded file (already under the limit) into a video folder's source: move a video into
 * place, unpack a zip of frames; then open it with the library to check it decodes and fits the
 * limits. Errors name the upload, never a server path.
 */
export async function acceptVideo(upload: string, dir: string, bytes: number, limits: VideoLimits): Promise<VideoInfo> {
  const kind = sniff(await readHead(upload));
  let source: string;
  if (kind === 'mp4' || kind === 'webm') {
    source = `source.${kind}`;
    await mkdir(dir, { recursive: true });
    await rename(upload, join(dir, source));
  } else if (kind === 'zip') {
    source = 'frames';
    await mkdir(dir, { recursive: true });
    try {
      await unpackFrames(upload, join(dir, source), limits);
    } finally {
      await rm(upload, { force: true });
    }
  } else {
    await rm(upload, { force: true });
    throw new HttpError(415, 'upload is not an mp4/mov, webm/mkv video or a zip of PNG/JPEG frames (checked by content, not by name)');
  }
  let frames: Awaited<ReturnType<typeof openSource>> | undefined;
  try {
    frames = await openSource(join(dir, source));
    const { width, height, frameCount, fps } = frames.info;
    if (!frameCount || frameCount < 1) throw new HttpError(422, 'upload holds no decodable frame');
    if (frameCount > limits.maxFrames) throw new HttpError(413, `upload has ${frameCount} frames; the limit is ${limits.maxFrames}`);
    if (width * height > limits.maxPixels)
      throw new HttpError(413, `frames are ${width}x${height}; the limit is ${limits.maxPixels} pixels per frame`);
    // Decoding the first and last frames proves the stream is usable (a header alone can lie).
    await frames.frame(0);
    if (frameCount > 1) await frames.frame(frameCount - 1);
    const info: VideoInfo = { kind: kind === 'zip' ? 'frames' : 'video', width, height, frameCount, fps, bytes, source };
    await writeFile(join(dir, 'video.json'), `${JSON.stringify(info, null, 1)}\n`);
    return info;
  } catch (err) {
    await frames?.close().catch(() => {});
    frames = undefined;
    await rm(dir, { recursive: true, force: true });
    if (err instanceof HttpError) throw err;
    const problem = err instanceof InputError ? err.problem : err instanceof Error ? err.message : String(err);
    throw new HttpError(422, `upload could not be read as ${kind === 'zip' ? 'frames' : 'a video'}: ${scrubPaths(problem, dir)}`);
  } finally {
    await frames?.close().catch(() => {});
  }
}

/** Replace server paths in a message with "upload". */
export function scrubPaths(message: string, ...paths: string[]): string {
  let m = message;
  for (const p of paths) m = m.split(p).join('upload');
  return m.replace(/\/[^\s:'"]*\/(source\.\w+|frames)/g, 'upload');
}

const FRAME_EXT: Record<string, 'png' | 'jpg'> = { png: 'png', jpg: 'jpg', jpeg: 'jpg' };

/**
 * Unpack the PNG/JPEG files of a zip into `dir` as 00000.<ext>, ... in natural order of their
 * names (folders and hidden or macOS metadata entries are skipped; other files are an error).
 * Unpacked bytes are capped; entry names are never used as paths.
 */
async function unpackFrames(zipPath: string, dir: string, limits: VideoLimits): Promise<void> {
  const staging = join(dir, '.staging');
  await mkdir(staging, { recursive: true });
  const entries: Array<{ name: string; ext: 'png' | 'jpg'; tmp: string }> = [];
  let unpacked = 0;
  let failure: HttpError | undefined;
  const writes: Promise<void>[] = [];
  const unzip = new Unzip((file) => {
    const name = file.name;
    const base = name.split('/').pop() ?? '';
    if (name.endsWith('/') || base === '' || base.startsWith('.') || name.startsWith('__MACOSX/')) return;
    const ext = FRAME_EXT[base.split('.').pop()?.toLowerCase() ?? ''];
    if (!ext) {
      failure ??= new HttpError(415, `zip entry "${name.slice(0, 80)}" is not a .png or .jpg frame`);
      return;
    }
    if (entries.length >= limits.maxFrames) {
      failure ??= new HttpError(413, `zip holds more than ${limits.maxFrames} frames`);
      return;
    }
    const tmp = join(staging, `${entries.length}.${ext}`);
    entries.push({ name, ext, tmp });
    const chunks: Uint8Array[] = [];
    writes.push(
      new Promise<void>((resolve, reject) => {
        file.ondata = (err, data, final) => {
          if (err) return reject(new HttpError(422, `zip entry "${name.slice(0, 80)}" is damaged (${err.message})`));
          unpacked += data.length;
          if (unpacked > limits.maxUnpackedBytes) {
            failure ??= new HttpError(413, `zip unpacks to more than ${limits.maxUnpackedBytes} bytes`);
            file.terminate();
            return resolve();
          }
          chunks.push(data);
          if (final) {
            const bytes = Buffer.concat(chunks);
            const kind = sniff(bytes.subarray(0, 16));
            if (kind !== ext) failure ??= new HttpError(415, `zip entry "${name.slice(0, 80)}" is not a ${ext.toUpperCase()} image`);
            writeFile(tmp, bytes).then(resolve, reject);
          }
        };
        file.start();
      }),
    );
  });
  unzip.register(UnzipInflate);
  unzip.register(UnzipPassThrough);
  try {
    for await (const chunk of createReadStream(zipPath)) {
      unzip.push(chunk as Uint8Array);
      if (failure) break;
    }
    if (!failure) unzip.push(new Uint8Array(0), true);
    await Promise.all(writes);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err instanceof HttpError ? err : new HttpError(422, `zip could not be read (${(err as Error).message})`);
  }
  if (!failure && entries.length === 0) failure = new HttpError(422, 'zip holds no .png or .jpg frame');
  if (failure) {
    await rm(dir, { recursive: true, force: true });
    throw failure;
  }
  entries.sort((a, b) => naturalCompare(a.name, b.name));
  for (let i = 0; i < entries.length; i++) await rename(entries[i].tmp, join(dir, `${String(i).padStart(5, '0')}.${entries[i].ext}`));
  await rm(staging, { recursive: true, force: true });
}
