/** ONNX model loading (runtime-agnostic; `onnxruntime-node` imported lazily), tensors, bundled weights, the backbone. */
export {
  BACKBONE_LEVELS,
  BACKBONE_MODEL,
  Backbone,
  type BackboneFeatures,
  type BackboneOptions,
  type BackbonePadding,
  cachedBackboneFeatures,
  type FeatureCache,
  type FeatureMap,
} from './backbone.js';
export { type OnnxMetadata, readOnnxMetadata } from './metadata.js';
export { type LoadModelOptions, loadModel, nodeOrt, type OnnxModel, type OrtRuntime, type TensorData, type TensorInfo } from './session.js';
export { logProbabilities, nchw, rgbToPlanar, softmaxChannels } from './tensor.js';
export { BUNDLED_MODELS, type BundledModel, bundledModelPath } from './weights.js';
