/** The session layer (pure part): the workflow, its stores, and opening one from in-memory frames. */
export { mergeDirections, mergeWeighted } from '../memory/merge.js';
export { type OpenSessionOptions, openSession } from './open-browser.js';
export { FramePipeline, type FramePool } from './pool.js';
export {
  type Direction,
  type KeyframeMode,
  type KeyframeOptions,
  type Progress,
  type PropagateOptions,
  type PropagationResult,
  PropagationSession,
  type SessionOptions,
} from './session.js';
export { MemoryResultStore, memoryStores, type ResultStore, type SessionStores } from './stores.js';
