import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { InputError } from '../core/errors.js';
import { inspectExr } from '../formats/exr.js';
import { decodeLabelPng } from '../formats/png.js';
import { decodeRgbe } from '../formats/rgbe.js';
import { openSource } from '../video/open.js';

/** `vprop info FILE`: what a source or file contains. Throws InputError (exit 1) when it is unreadable. */
export async function runInfo(file: string, o: { json?: boolean }): Promise<number> {
  const st = await stat(file).catch(() => {
    throw new InputError(file, 'does not exist');
  });
  const ext = extname(file).toLowerCase();
  let info: Record<string, unknown>;
  if (st.isFile() && ext === '.exr') {
    const x = inspectExr(new Uint8Array(await readFile(file)), file);
    info = {
      type: 'OpenEXR',
      file,
      multiPart: x.multiPart,
      tiled: x.tiled,
      parts: x.parts.map((p) => ({ ...p })),
    };
  } else if (st.isFile() && ext === '.hdr') {
    const img = decodeRgbe(new Uint8Array(await readFile(file)), file);
    let max = 0;
    for (const v of img.data) if (v > max) max = v;
    info = { type: 'Radiance RGBE', file, width: img.width, height: img.height, exposure: img.exposure, maxRadiance: max };
  } else if (st.isFile() && ext === '.png') {
    const labels = decodeLabelPng(new Uint8Array(await readFile(file)), file, { grayscale: 'values' });
    const counts = new Map<number, number>();
    for (const v of labels.data) counts.set(v, (counts.get(v) ?? 0) + 1);
    const ids = [...counts.keys()].sort((a, b) => a - b);
    info = {
      type: 'label PNG',
      file,
      width: labels.width,
      height: labels.height,
      ids,
      pixelsPerId: Object.fromEntries(ids.map((i) => [i, counts.get(i)])),
    };
  } else {
    const src = await openSource(file);
    try {
      // Decode the first frame: a file that probes but cannot be decoded is reported now.
      await src.frame(0);
      info = {
        type: src.info.kind,
        file: src.info.origin,
        width: src.info.width,
        height: src.info.height,
        frames: src.info.frameCount,
        fps: src.info.fps,
      };
    } finally {
      await src.close();
    }
  }
  if (o.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  else
    for (const [k, v] of Object.entries(info))
      process.stdout.write(`${k.padEnd(12)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`);
  return 0;
}
