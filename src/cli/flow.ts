/**
 * `vprop flow A B --out flow.flo`: dense optical flow between two images, written as Middlebury
 * `.flo` plus a Middlebury colour-coded PNG.
 *
 * Direction: by default the flow maps A's pixels into B on A's grid (Middlebury's convention:
 * A(x, y) ↔ B(x + u, y + v)). `--backward` gives B → A on B's grid instead, the convention GRFP
 * warps with (ANCHORS §8.2) — the same as `--direction backward` in `computeFlow(A, B)`.
 */
import { InputError } from '../core/errors.js';
import { flowToColor, writeFlo } from '../formats/flo.js';
import { encodeRgbPng } from '../formats/png.js';
import { computeFlow } from '../ops/flow.js';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeImageRgb } from '../video/folder.js';

export interface FlowCliOptions {
  /** Output `.flo` path (required). */
  out: string;
  /** Colour-coded PNG path; default: `out` with `.png` instead of `.flo`; 'none' to skip. */
  png?: string;
  /** 'auto' (default), 'dis' or 'farneback'. */
  backend?: string;
  /** DIS preset 'fast' or 'medium' (default). */
  preset?: string;
  /** Flow from B to A on B's grid instead of A → B. */
  backward?: boolean;
  /** Flow magnitude (px) of full colour saturation in the PNG; default: the largest in the image. */
  maxFlow?: number | string;
  json?: boolean;
}

/** Returns the exit code (0 ok; bad input throws InputError, which the CLI turns into exit 1). */
export async function runFlow(a: string, b: string, o: FlowCliOptions): Promise<number> {
  if (!o.out) throw new InputError('vprop flow', '--out <file.flo> is required');
  const backend = (o.backend ?? 'auto') as 'auto' | 'dis' | 'farneback';
  if (!['auto', 'dis', 'farneback'].includes(backend))
    throw new InputError('--backend', `unknown flow backend "${o.backend}" (auto, dis, farneback)`);
  const preset = (o.preset ?? 'medium') as 'fast' | 'medium';
  if (preset !== 'fast' && preset !== 'medium') throw new InputError('--preset', `unknown DIS preset "${o.preset}" (fast, medium)`);
  const maxFlow = o.maxFlow !== undefined ? Number(o.maxFlow) : undefined;
  if (maxFlow !== undefined && !(maxFlow > 0))
    throw new InputError('--max-flow', `must be a positive number of pixels, got "${o.maxFlow}"`);
  const A = await decodeImageRgb(a);
  const B = await decodeImageRgb(b);
  if (A.width !== B.width || A.height !== B.height) {
    throw new InputError(b, `is ${B.width}x${B.height} but ${a} is ${A.width}x${A.height}; flow needs images of one size`);
  }
  const started = performance.now();
  // computeFlow(prev, cur): 'forward' = prev → cur on prev's grid; 'backward' = cur → prev on cur's grid.
  const r = await computeFlow(A, B, { backend, preset, direction: o.backward ? 'backward' : 'forward' });
  const ms = performance.now() - started;
  const { width: W, height: H } = A;
  await writeFlo(o.out, r.flow, H, W);
  const pngPath = o.png === 'none' ? undefined : (o.png ?? (/\.flo$/i.test(o.out) ? o.out.replace(/\.flo$/i, '.png') : `${o.out}.png`));
  if (pngPath) await writeFileAtomic(pngPath, encodeRgbPng({ width: W, height: H, data: flowToColor(r.flow, H, W, { maxFlow }) }));
  let maxMag = 0;
  let sumMag = 0;
  const n = W * H;
  for (let i = 0; i < n; i++) {
    const m = Math.hypot(r.flow[i], r.flow[n + i]);
    if (Number.isFinite(m)) {
      maxMag = Math.max(maxMag, m);
      sumMag += m;
    }
  }
  const summary = {
    from: o.backward ? b : a,
    to: o.backward ? a : b,
    width: W,
    height: H,
    backend: r.backend,
    description: r.description,
    milliseconds: Math.round(ms),
    meanMagnitude: sumMag / n,
    maxMagnitude: maxMag,
    flo: o.out,
    png: pngPath,
  };
  if (o.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else {
    process.stdout.write(
      `${summary.from} → ${summary.to}: ${W}x${H}, ${r.description}, ${summary.milliseconds} ms; |flow| mean ${summary.meanMagnitude.toFixed(2)} px, max ${maxMag.toFixed(2)} px\n` +
        `wrote ${o.out}${pngPath ? ` and ${pngPath}` : ''}\n`,
    );
  }
  return 0;
}
