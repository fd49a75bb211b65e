/**
 * vprop without Node: what runs in a browser (or a Web Worker, Deno, Bun) because it needs no
 * `node:*` module: the shared types, the pure formats (colour spaces, COCO RLE, palette PNG codec,
 * mask exports), metrics, kernels,
 * the synthetic scene generator, tasks, guide policies, the engines whose kernels are pure
 * TypeScript (copy, bilateral) and the session with in-memory (or injected) stores.
 *
 * `import { openSession } from 'vprop'` resolves here under the `browser` export condition.
 */
export * from './core/index.js';
export { type BilateralOptions, type BilateralTimings, bilateralEngine, createBilateralEngine } from './engines/bilateral/index.js';
export { copyEngine, createCopyEngine } from './engines/copy/index.js';
export * from './engines/registry.js';
export type { Engine, EngineContext, EngineOptions, EngineRegistration, FitContext, Guide, Target } from './engines/types.js';
export * from './formats/color.js';
export * from './formats/mask-export.js';
export * from './formats/png-codec.js';
export * from './formats/rle.js';
export * from './memory/index.js';
export * from './metrics/index.js';
export * from './ops/correlation.js';
export * from './ops/crf.js';
export * from './ops/lattice.js';
export * from './ops/linear-scan.js';
export * from './ops/resize.js';
export * from './ops/slic.js';
export * from './ops/superpixel-features.js';
export * from './ops/warp.js';
export * from './session/index.js';
export * from './synth/index.js';
export * from './tasks/index.js';
export { naturalCompare, naturalSort } from './util/natural-sort.js';
export { fromAsyncIterable, IterableFrameSource, type IterableSourceOptions } from './video/iterable.js';
export { sourceFromFrames, sourceFromRenderer } from './video/memory.js';
export type { FrameSink, FrameSource, SourceInfo, SourceKind } from './video/types.js';
