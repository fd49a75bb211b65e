/** Frame sources (video files, image folders, DAVIS, async iterables) and sinks. */

export { type DavisAnnotations, DavisFrameSource, type DavisOptions, type DavisSequence, listDavisSequences, openDavis } from './davis.js';
export {
  type FfmpegBinaries,
  MissingFfmpegError,
  type OpenVideoFileOptions,
  openVideoFile,
  probeVideo,
  VideoFileSource,
  type VideoProbe,
} from './ffmpeg.js';
export {
  decodeImageRgb,
  describeGaps,
  type FolderOptions,
  findNumberingGaps,
  IMAGE_EXTENSIONS,
  ImageFolderSource,
  listImageFiles,
  openImageFolder,
} from './folder.js';
export { FrameLru, fromAsyncIterable, IterableFrameSource, type IterableSourceOptions } from './iterable.js';
export { type OpenSourceOptions, openSource, VIDEO_EXTENSIONS } from './open.js';
export {
  ExrSequenceSink,
  type FolderSinkOptions,
  FramePattern,
  Mp4Sink,
  type OverlayOptions,
  overlayMask,
  PaletteFolderSink,
  type RadianceFrame,
  RgbFolderSink,
  type VideoSinkOptions,
} from './sinks.js';
export type { FrameSink, FrameSource, SourceInfo, SourceKind } from './types.js';
