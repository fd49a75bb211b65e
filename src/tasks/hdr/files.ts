/** HDR on disk: OpenEXR / Radiance key-frames, half-float EXR results; log-domain scoring. */
import { extname, join } from 'node:path';
import { InputError } from '../../core/errors.js';
import { exrToInterleavedRgb, readExr } from '../../formats/exr.js';
import { readRgbe } from '../../formats/rgbe.js';
import { formatTable } from '../../util/table.js';
import { ExrSequenceSink } from '../../video/sinks.js';
import { evaluateHdr } from '../evaluate.js';
import { sinkWriter, type TaskFiles } from '../files.js';

export const hdrFiles: TaskFiles = {
  annotationFiles: 'OpenEXR (.exr) or Radiance (.hdr) images of the key-frames, linear radiance',
  async readAnnotation(file) {
    const ext = extname(file).toLowerCase();
    if (ext === '.hdr') return { radiance: await readRgbe(file) };
    if (ext === '.exr') {
      const img = await readExr(file);
      return { radiance: { width: img.width, height: img.height, data: exrToInterleavedRgb(img) } };
    }
    throw new InputError(file, 'an HDR key-frame must be an .exr or .hdr file');
  },
  openWriter(out, opts) {
    if (opts.probabilities) throw new InputError('--probabilities', 'only for the mask and labels tasks, not hdr');
    const exr = new ExrSequenceSink(join(out, 'exr'));
    return sinkWriter({
      outputs: [exr.dir],
      sinks: [exr] as never,
      async write(r) {
        if (!r.radiance) throw new Error(`internal: result ${r.index} has no radiance`);
        const { width, height, data } = r.radiance;
        const n = width * height;
        const planar = new Float32Array(3 * n);
        for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = data[i * 3 + c];
        await exr.write(r.index, { width, height, data: planar });
      },
    });
  },
  async evaluate(pred, gt, opts) {
    const r = await evaluateHdr(pred, gt, { maxFrames: opts.maxFrames, onProgress: opts.onProgress });
    const rows: Array<Array<string | number>> = r.sequences.map((s) => [s.name, s.frames.length, s.meanLogRmse, s.meanLogLuminancePsnr]);
    rows.push(['Average', '', r.meanLogRmse, r.meanLogLuminancePsnr]);
    return { result: r, table: formatTable(['Sequence', 'Frames', 'log-RMSE', 'logL PSNR (dB)'], rows, 3) };
  },
};
