/**
 * Exports made in the browser: the zip of formats/mask-export.ts's layout (DAVIS palette PNGs,
 * per-object PNGs, COCO RLE JSON; PNG frames for colour), written by the same library functions
 * the server uses, and an overlay / colour mp4 encoded with WebCodecs and muxed by mediabunny.
 */
import { zipSync } from 'fflate';
import { BufferTarget, CanvasSource, getFirstEncodableVideoCodec, Mp4OutputFormat, Output, QUALITY_HIGH } from 'mediabunny';
import { CocoVideoAnnotations, encodeRgbPng, maskExportFiles } from '../../src/browser.js';
import { overlayImage } from './annotate.js';

export interface ExportFrame {
  readonly index: number;
  readonly labels?: Uint8Array;
  readonly rgb?: Uint8Array;
}

const ZIP_TIME = new Date('2000-01-01T00:00:00Z');

export function resultsZip(frames: readonly ExportFrame[], width: number, height: number, objectIds: readonly number[]): Uint8Array {
  const entries: Record<string, [Uint8Array, { level: 0 | 6; mtime: Date }]> = {};
  const coco = new CocoVideoAnnotations();
  let masks = 0;
  for (const f of [...frames].sort((a, b) => a.index - b.index)) {
    if (f.labels) {
      const labels = { width, height, data: f.labels };
      for (const file of maskExportFiles(f.index, labels, objectIds)) entries[file.name] = [file.data, { level: 0, mtime: ZIP_TIME }];
      coco.add(f.index, labels);
      masks++;
    } else if (f.rgb) {
      entries[`frames/${String(f.index).padStart(5, '0')}.png`] = [
        encodeRgbPng({ width, height, data: f.rgb }),
        { level: 0, mtime: ZIP_TIME },
      ];
    }
  }
  if (masks > 0) entries['coco.json'] = [new TextEncoder().encode(`${JSON.stringify(coco.toJSON())}\n`), { level: 6, mtime: ZIP_TIME }];
  return zipSync(entries);
}

/** An mp4 of the frames with the masks blended over them (or the colour results as they are). */
export async function resultsVideo(
  bitmaps: readonly ImageBitmap[],
  frames: ReadonlyMap<number, ExportFrame>,
  width: number,
  height: number,
  fps: number,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  // H.264 needs even sizes; the last row/column is repeated by drawing the frame stretched by one pixel.
  const w = width + (width % 2);
  const h = height + (height % 2);
  const codec = await getFirstEncodableVideoCodec(['avc', 'vp9', 'av1'], { width: w, height: h });
  if (!codec) throw new Error('this browser cannot encode video (no H.264, VP9 or AV1 encoder in WebCodecs); run on the server for mp4');
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser has no 2D canvas');
  const overlay = new OffscreenCanvas(width, height);
  const octx = overlay.getContext('2d') as OffscreenCanvasRenderingContext2D;
  const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'in-memory' }), target: new BufferTarget() });
  const source = new CanvasSource(canvas, { codec, bitrate: QUALITY_HIGH });
  output.addVideoTrack(source, { frameRate: fps });
  await output.start();
  for (let i = 0; i < bitmaps.length; i++) {
    const f = frames.get(i);
    if (f?.rgb) {
      const img = new ImageData(width, height);
      for (let p = 0, q = 0; p < f.rgb.length; p += 3, q += 4) {
        img.data[q] = f.rgb[p];
        img.data[q + 1] = f.rgb[p + 1];
        img.data[q + 2] = f.rgb[p + 2];
        img.data[q + 3] = 255;
      }
      octx.putImageData(img, 0, 0);
      ctx.drawImage(overlay, 0, 0, w, h);
    } else {
      ctx.drawImage(bitmaps[i], 0, 0, w, h);
      if (f?.labels) {
        octx.clearRect(0, 0, width, height);
        octx.putImageData(overlayImage({ width, height, data: f.labels }, 128), 0, 0);
        ctx.drawImage(overlay, 0, 0, w, h);
      }
    }
    await source.add(i / fps, 1 / fps);
    onProgress?.(i + 1, bitmaps.length);
  }
  source.close();
  await output.finalize();
  return new Uint8Array((output.target as BufferTarget).buffer as ArrayBuffer);
}

export function download(bytes: Uint8Array, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
