/**
 * Loading a video in the page: a video file (mp4, webm, mov, mkv) or a folder of frames.
 *
 * Video files are decoded with WebCodecs, demuxed by mediabunny (a maintained, dependency-free
 * TypeScript demuxer/muxer), not through a `<video>` element with requestVideoFrameCallback:
 * propagation needs every frame exactly once, numbered as the server's ffmpeg numbers them, and
 * a key-frame must land on the frame the person painted. A `<video>` element gives frames only
 * while playing (callbacks are skipped when the page is busy: frames are silently dropped) or
 * after seeks, which are time-based and land on a neighbouring frame on variable frame rates;
 * WebCodecs decodes the stream's samples in order, all of them, with their timestamps, off the
 * main thread's playback machinery. The price: browsers without WebCodecs (older Safari, Firefox
 * before 130) cannot open video files; they can still open folders of frames.
 *
 * Frames are kept twice: as ImageBitmaps for display and as interleaved RGB for the propagation
 * worker (transferred to it). A 100-frame 854x480 clip takes about 290 MB.
 */
import { ALL_FORMATS, BlobSource, Input, VideoSampleSink } from 'mediabunny';
import { naturalCompare } from '../../src/browser.js';

export interface LoadedVideo {
  readonly name: string;
  readonly kind: 'video' | 'frames';
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly bitmaps: ImageBitmap[];
  /** Interleaved RGB per frame (handed to the worker, which then owns the buffers). */
  readonly rgb: Uint8Array[];
  /** What the server gets when a job runs there: the video file, or the frame files. */
  readonly files: File[];
}

export type LoadProgress = (done: number, total: number | undefined) => void;

const IMAGE_EXT = /\.(png|jpe?g|webp|bmp)$/i;

function rgbOf(ctx: OffscreenCanvasRenderingContext2D, width: number, height: number): Uint8Array {
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/** A folder of frames (from a directory picker): images in natural order of their names. */
export async function loadFrameFiles(list: FileList | File[], onProgress?: LoadProgress): Promise<LoadedVideo> {
  const files = [...list].filter((f) => IMAGE_EXT.test(f.name) && !f.name.startsWith('.'));
  const pathOf = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
  files.sort((a, b) => naturalCompare(pathOf(a), pathOf(b)));
  if (files.length === 0) throw new Error('the folder holds no .png, .jpg, .webp or .bmp frame');
  const bitmaps: ImageBitmap[] = [];
  const rgb: Uint8Array[] = [];
  let ctx: OffscreenCanvasRenderingContext2D | undefined;
  let width = 0;
  let height = 0;
  for (const [i, file] of files.entries()) {
    // No colour management and no premultiplication: the pixels the file holds, as the CLI reads them.
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' }).catch(() => {
      throw new Error(`${pathOf(file)}: not a decodable image`);
    });
    if (i === 0) {
      width = bitmap.width;
      height = bitmap.height;
      ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true }) ?? undefined;
      if (!ctx) throw new Error('this browser has no 2D canvas');
    } else if (bitmap.width !== width || bitmap.height !== height) {
      throw new Error(`${pathOf(file)} is ${bitmap.width}x${bitmap.height}; the first frame is ${width}x${height}`);
    }
    const c = ctx as OffscreenCanvasRenderingContext2D;
    c.clearRect(0, 0, width, height);
    c.drawImage(bitmap, 0, 0);
    rgb.push(rgbOf(c, width, height));
    bitmaps.push(bitmap);
    onProgress?.(i + 1, files.length);
  }
  const first = pathOf(files[0]);
  const name = first.includes('/') ? first.split('/').slice(-2)[0] : 'frames';
  return { name, kind: 'frames', width, height, fps: 24, bitmaps, rgb, files };
}

/** A video file, decoded with WebCodecs (see the module comment). */
export async function loadVideoFile(file: File, onProgress?: LoadProgress): Promise<LoadedVideo> {
  if (typeof VideoDecoder === 'undefined') throw new Error('this browser has no WebCodecs: open a folder of frames instead');
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error(`${file.name}: no video track`);
    if (!(await track.canDecode())) throw new Error(`${file.name}: this browser cannot decode its ${track.codec ?? 'unknown'} video`);
    const width = track.displayWidth;
    const height = track.displayHeight;
    const stats = await track.computePacketStats(100);
    const fps = stats.averagePacketRate > 0 ? stats.averagePacketRate : 24;
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new Error('this browser has no 2D canvas');
    const bitmaps: ImageBitmap[] = [];
    const rgb: Uint8Array[] = [];
    const duration = await track.computeDuration();
    const expected = Math.max(1, Math.round(duration * fps));
    for await (const sample of new VideoSampleSink(track).samples()) {
      try {
        ctx.clearRect(0, 0, width, height);
        sample.draw(ctx, 0, 0, width, height);
      } finally {
        sample.close();
      }
      rgb.push(rgbOf(ctx, width, height));
      bitmaps.push(await createImageBitmap(ctx.canvas));
      onProgress?.(rgb.length, expected);
    }
    if (rgb.length === 0) throw new Error(`${file.name}: no frame could be decoded`);
    return { name: file.name.replace(/\.[^.]+$/, ''), kind: 'video', width, height, fps, bitmaps, rgb, files: [file] };
  } finally {
    input.dispose();
  }
}
