/**
 * Downloads of a finished job: one frame's file, and the zip of every result (masks: DAVIS
 * palette PNGs, per-object PNGs and COCO RLE JSON — the layout of formats/mask-export.ts, which the
 * web app writes too; colour: PNG frames; HDR: EXR frames; labels: palette PNGs). The zip is
 * streamed (stored entries for PNG/EXR, deflated JSON) with a fixed timestamp, so the same job
 * output always gives the same bytes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import type { Task } from '../core/types.js';
import { CocoVideoAnnotations, maskExportFiles } from '../formats/mask-export.js';
import { decodeLabelPng } from '../formats/png.js';

/** Folder and extension of each task's per-frame results under out/ (the task writers' layout). */
export const RESULT_FILES: Record<Task, { folder: string; ext: string; type: string }> = {
  mask: { folder: 'masks', ext: 'png', type: 'image/png' },
  labels: { folder: 'labels', ext: 'png', type: 'image/png' },
  color: { folder: 'frames', ext: 'png', type: 'image/png' },
  hdr: { folder: 'exr', ext: 'exr', type: 'image/x-exr' },
};

export const RESULT_VIDEOS: Partial<Record<Task, string>> = { mask: 'overlay.mp4', labels: 'overlay.mp4', color: 'color.mp4' };

export function resultFrameName(task: Task, index: number): string {
  const f = RESULT_FILES[task];
  return `${f.folder}/${String(index).padStart(5, '0')}.${f.ext}`;
}

/** Result frame indices present in out/. */
export async function resultIndices(out: string, task: Task): Promise<number[]> {
  const f = RESULT_FILES[task];
  let names: string[];
  try {
    names = await readdir(join(out, f.folder));
  } catch {
    return [];
  }
  const re = new RegExp(`^(\\d{5,})\\.${f.ext}$`);
  return names
    .map((n) => re.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

const ZIP_TIME = new Date('2000-01-01T00:00:00Z');

/** The job's results as a zip stream. */
export function resultZip(out: string, task: Task, objectIds: readonly number[]): Readable {
  async function* chunks(): AsyncGenerator<Uint8Array> {
    const pending: Uint8Array[] = [];
    let failure: Error | null = null;
    const zip = new Zip((err, chunk) => {
      if (err) failure = err;
      else pending.push(chunk);
    });
    const add = (name: string, data: Uint8Array, deflate = false) => {
      const entry = deflate ? new ZipDeflate(name, { level: 6 }) : new ZipPassThrough(name);
      entry.mtime = ZIP_TIME;
      zip.add(entry);
      entry.push(data, true);
    };
    const flush = function* () {
      if (failure) throw failure;
      while (pending.length > 0) yield pending.shift() as Uint8Array;
    };
    const coco = task === 'mask' ? new CocoVideoAnnotations() : undefined;
    for (const index of await resultIndices(out, task)) {
      const name = resultFrameName(task, index);
      const bytes = new Uint8Array(await readFile(join(out, name)));
      if (task === 'mask') {
        const labels = decodeLabelPng(bytes, name);
        for (const f of maskExportFiles(index, labels, objectIds, { palettePng: bytes })) add(f.name, f.data);
        coco?.add(index, labels);
      } else add(name, bytes);
      yield* flush();
    }
    if (coco) add('coco.json', new TextEncoder().encode(`${JSON.stringify(coco.toJSON())}\n`), true);
    zip.end();
    yield* flush();
  }
  return Readable.from(chunks());
}
