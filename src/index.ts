/**
 * vprop for Node: everything of the browser entry, plus sources and sinks (ffmpeg, image folders,
 * DAVIS), every file format, optical flow, ONNX models and what runs them (flowgru, memory selection),
 * `openVideo` (any path, results spilled to disk, resumable) and the tasks' file readers,
 * writers and folder evaluations.
 */
export * from './browser.js';
export {
  createFlowGruEngine,
  type FlowGruOptions,
  flowgruEngine,
  type PerFrameFn,
  perFrameFromFolder,
} from './engines/index.js';
export * from './formats/exr.js';
export * from './formats/flo.js';
export * from './formats/npy.js';
export * from './formats/png.js';
// The Node encoders (node:zlib) win over the browser entry's (fflate) of the same names.
export { encodeBinaryMaskPng, encodePalettePng, encodeRgbPng } from './formats/png.js';
export * from './formats/rgbe.js';
// Memory selection runs ONNX models, so it is exported here rather than with the policies.
export {
  foreground,
  MSN_GRID,
  MSN_INPUT,
  MSN_SELECTOR_CORRELATION,
  type MsnProjections,
  MsnScorer,
  type MsnScorerOptions,
  selectorFeatures,
} from './memory/msn.js';
export * from './models/index.js';
export * from './ops/flow.js';
export { DiskFeatureSpill, type DiskStoreOptions, diskStores, FrameStore } from './session/disk-store.js';
export { createNodeFramePool, defaultWorkerCount } from './session/node-pool.js';
export { type OpenVideoOptions, openVideo } from './session/open.js';
export * from './tasks/evaluate.js';
export {
  type EvaluateOptions,
  type Evaluation,
  getTaskFiles,
  parseKeyframeSpec,
  type ResultWriter,
  type TaskFiles,
  type WriterOptions,
} from './tasks/files.js';
export * from './video/index.js';
