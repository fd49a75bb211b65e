/**
 * The registry of bundled model files (`src/models/weights/*.onnx`, produced by `training/`, or
 * converted by `scripts/convert-backbone.ts` for the backbone; how each was made is in
 * training/README.md and in the file's `vprop.*` metadata).
 *
 * `bundledModelPath(name)` is Node-only (it resolves the file next to the sources, also from a
 * compiled `dist/src/models`); in a browser, fetch `weights/<file>` yourself and pass the bytes to
 * `loadModel`.
 */
export interface BundledModel {
  readonly name: string;
  readonly file: string;
  readonly description: string;
}

export const BUNDLED_MODELS: readonly BundledModel[] = [
  {
    name: 'grfp-mask',
    file: 'grfp-mask-shared.onnx',
    description: 'GRFP STGRU, channel-agnostic cell (any K+1 mask channels); trained on synthetic scenes and DAVIS-2016 dev-10',
  },
  {
    name: 'grfp-labels',
    file: 'grfp-labels-shared.onnx',
    description: 'GRFP STGRU, channel-agnostic cell without a background bias (any class count); trained on synthetic label scenes',
  },
  {
    name: 'grfp-labels-c6',
    file: 'grfp-labels-exact-c6.onnx',
    description: 'GRFP STGRU, the exact per-class cell for 6 classes (vprop synthetic scenes: ground, sky, 4 object classes)',
  },
  {
    name: 'stpn-color-front',
    file: 'stpn-color-front.onnx',
    description:
      'STPN colour (Lab ab), guidance U-Net and property encoder (before the scan); trained on DAVIS dev fold B + still-photo pairs (the fold-A model)',
  },
  { name: 'stpn-color-back', file: 'stpn-color-back.onnx', description: 'STPN colour, decoder after the scan (pair of stpn-color-front)' },
  {
    name: 'stpn-hdr-front',
    file: 'stpn-hdr-front.onnx',
    description:
      'STPN HDR (log radiance), guidance U-Net on the LDR frames and property encoder; trained on the HDR_SPLIT train sources only',
  },
  { name: 'stpn-hdr-back', file: 'stpn-hdr-back.onnx', description: 'STPN HDR, decoder after the scan (pair of stpn-hdr-front)' },
  {
    name: 'msn-mask-embed',
    file: 'msn-mask-embed.onnx',
    description:
      'MSN mask guide selector, per-frame projections of the backbone s16 features; trained on DAVIS dev fold B candidate tables of the bilateral and maskprop engines (the fold-A model)',
  },
  {
    name: 'msn-mask-head',
    file: 'msn-mask-head.onnx',
    description: 'MSN mask selector, two-stream head over correlations and projections (pair of msn-mask-embed)',
  },
  {
    name: 'msn-color-embed',
    file: 'msn-color-embed.onnx',
    description:
      'MSN colour guide selector, per-frame projections of the backbone s16 features of the grey frames; trained on DAVIS dev fold B candidate tables of the stpn engine (the fold-A model)',
  },
  {
    name: 'msn-color-head',
    file: 'msn-color-head.onnx',
    description: 'MSN colour selector, two-stream head over correlations and projections (pair of msn-color-embed)',
  },
  {
    name: 'vpn-mask',
    file: 'vpn-mask.onnx',
    description:
      "learned VPN mask stage (bilateral layers' weights in the metadata, the spatial CNN as the graph); trained on DAVIS dev fold B stage-0 unaries (the fold-A model)",
  },
  {
    name: 'vpn-color',
    file: 'vpn-color.onnx',
    description:
      "learned VPN colour stage (per-pixel layers' weights in the metadata, the spatial CNN and last 1x1 as the graph); trained on DAVIS dev fold B grey videos (the fold-A model)",
  },
  {
    name: 'maskprop-propnet',
    file: 'maskprop-propnet.onnx',
    description:
      "maskprop's propagation network (region crop of RGB + coarse probability → object logits, a U-Net); trained on DAVIS dev fold B, synthetic scenes and photograph composites (the fold-A model)",
  },
  {
    name: 'mobilenetv2-backbone',
    file: 'mobilenetv2-s16.onnx',
    description:
      'MobileNetV2 ImageNet trunk (layers up to block_10, frozen in the source) from nsfwjs@4.4.0 (MIT), converted by scripts/convert-backbone.ts; outputs s4, s8, s16 (models/backbone.ts)',
  },
];

/** Absolute path of a bundled model (Node). Throws naming the file when it is missing. */
export async function bundledModelPath(name: string): Promise<string> {
  const m = BUNDLED_MODELS.find((b) => b.name === name || b.file === name);
  if (!m) throw new Error(`unknown bundled model "${name}" (available: ${BUNDLED_MODELS.map((b) => b.name).join(', ')})`);
  const { existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let dir = dirname(fileURLToPath(import.meta.url));
  const tried: string[] = [];
  for (let i = 0; i < 5; i++) {
    for (const rel of [join('weights', m.file), join('src', 'models', 'weights', m.file)]) {
      const p = join(dir, rel);
      tried.push(p);
      if (existsSync(p)) return p;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`bundled model ${m.file} not found (looked in ${tried.slice(0, 2).join(', ')}, ...)`);
}
