/**
 * Synthetic videos with exact ground truth (object labels, semantic classes, backward/forward
 * flow, occlusion, colour, HDR radiance), rendered on demand from a seed. Used by the tests of
 * every engine and by `vprop demo`. HDR videos from still HDR images by a virtual camera:
 * `hdr-video.ts` (pure); the source images and their train / held-out split: `hdr-sources.ts`
 * (Node, reads files; imported directly, not from this index, which the browser entry re-exports).
 */
import type { IndexedFrame } from '../core/types.js';
import type { FrameSource, SourceInfo } from '../video/types.js';
import type { SyntheticScene } from './scene.js';

export { Rng } from '../util/rng.js';
export { cameraResponse, encodeLinear8, inverseCameraResponse, srgbEotf, srgbOetf } from './camera.js';
export { type Affine, FrameGeometry, type ObjectPose, SHAPE_FAMILIES, type Shape, type ShapeFamily } from './geometry.js';
export {
  type CameraPathOptions,
  type CameraPose,
  createHdrClip,
  DEFAULT_EXPOSURE_PERCENTILE,
  EXPOSURE_FRAME_STRIDE,
  exposeLdr,
  type HdrClip,
  type HdrClipOptions,
  type HdrStill,
  type HdrVideoFrame,
  hdrCameraPath,
  MEDIAN_LUMINANCE,
  maxChannelQuantile,
  normalizeMedianLuminance,
  type PanoramaPose,
  type PhotoPose,
  progressCurve,
  renderHdrView,
  sanitizeRadiance,
  sourcePixelsPerOutputPixel,
} from './hdr-video.js';
export {
  createScene,
  type ObjectState,
  type SceneInfo,
  type SceneOptions,
  type SyntheticFrame,
  type SyntheticScene,
} from './scene.js';

/**
 * The scene's RGB frames as a `FrameSource` (kind 'iterable'), for code that consumes videos.
 * Frames are rendered on demand; nothing is cached, so memory does not grow with length.
 */
export function sceneFrameSource(scene: SyntheticScene): FrameSource {
  const n = scene.info.frames;
  const info: SourceInfo = {
    kind: 'iterable',
    origin: `synthetic scene (seed ${scene.info.seed}, ${scene.info.width}x${scene.info.height}, ${n} frames)`,
    width: scene.info.width,
    height: scene.info.height,
    frameCount: n,
    fps: scene.info.fps,
  };
  const toIndexed = (t: number): IndexedFrame => {
    const f = scene.render(t).rgb;
    return { width: f.width, height: f.height, data: f.data, index: t };
  };
  const frames = (from = 0, to = n): AsyncIterable<IndexedFrame> => {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > n) {
      throw new RangeError(`${info.origin}: frame range [${from}, ${to}) is not within [0, ${n}]`);
    }
    return {
      async *[Symbol.asyncIterator]() {
        for (let t = from; t < to; t++) yield toIndexed(t);
      },
    };
  };
  return {
    info,
    async frame(index: number) {
      return toIndexed(index);
    },
    frames,
    [Symbol.asyncIterator]() {
      return frames()[Symbol.asyncIterator]();
    },
    async close() {},
  };
}
