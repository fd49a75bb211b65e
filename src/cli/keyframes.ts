import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Task } from '../engines/types.js';
import { InputError } from '../errors.js';
import { exrToInterleavedRgb, readExr } from '../formats/exr.js';
import { readLabelPng } from '../formats/png.js';
import { readRgbe } from '../formats/rgbe.js';
import type { Annotation } from '../tasks/annotation.js';
import { decodeImageRgb } from '../video/folder.js';

/**
 * Parse `--keyframes`: "INDEX:FILE,INDEX:FILE" or a folder whose files are named by frame number
 * (`00012.png` is frame 12). Returns (index, file) pairs, ascending.
 */
export async function parseKeyframeSpec(spec: string): Promise<Array<{ index: number; file: string }>> {
  const st = await stat(spec).catch(() => null);
  if (st?.isDirectory()) {
    const out = [];
    for (const name of await readdir(spec)) {
      const m = /^(?:.*?)(\d+)$/.exec(basename(name, extname(name)));
      if (!m || name.startsWith('.')) continue;
      out.push({ index: Number.parseInt(m[1], 10), file: join(spec, name) });
    }
    if (out.length === 0) throw new InputError(spec, 'no key-frame files named by frame number in this folder');
    return out.sort((a, b) => a.index - b.index);
  }
  return spec.split(',').map((item) => {
    const m = /^(\d+):(.+)$/.exec(item.trim());
    if (!m) throw new InputError(spec, `key-frame "${item}" is not INDEX:FILE`);
    return { index: Number.parseInt(m[1], 10), file: m[2] };
  });
}

/** Read one key-frame file as the annotation the task needs. */
export async function readAnnotation(task: Task, file: string): Promise<Annotation> {
  const ext = extname(file).toLowerCase();
  switch (task) {
    case 'mask':
      // DAVIS-2016 grey 0/255 masks become object 1; palette masks keep their ids.
      return { mask: await readLabelPng(file, { grayscale: 'binary' }) };
    case 'labels':
      return { labels: await readLabelPng(file, { grayscale: 'values' }) };
    case 'color':
      return { color: await decodeImageRgb(file) };
    case 'hdr': {
      if (ext === '.hdr') return { radiance: await readRgbe(file) };
      if (ext === '.exr') {
        const img = await readExr(file);
        return { radiance: { width: img.width, height: img.height, data: exrToInterleavedRgb(img) } };
      }
      throw new InputError(file, 'an HDR key-frame must be an .exr or .hdr file');
    }
  }
}
