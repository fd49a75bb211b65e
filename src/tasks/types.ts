/**
 * What a task is: the rules of one modality (masks, semantic labels, colour, HDR) that the session,
 * the CLI, the server and the web app share instead of switching on the task name. The pure part
 * lives here (runs in browsers); reading annotation files, writing results and scoring folders
 * live in each task's `files.ts` (Node).
 */
import type { Annotation, LabelImage, ObjectPresence, PropertyMap, RadianceImage, RgbFrame, Size, Task } from '../core/types.js';

/** How property channels map to ids. */
export interface ChannelLayout {
  readonly channels: number;
  /** Masks: `objectIds[k]` is the object id of channel k + 1 (channel 0 is background), ascending. */
  readonly objectIds?: readonly number[];
}

/** What a result carries besides its property map, per task. */
export interface TaskResultFields {
  /** mask / labels: argmax label image (object id or class id per pixel). */
  readonly labels?: LabelImage;
  /** mask: presence of every object in the frame. */
  readonly objects?: readonly ObjectPresence[];
  /** color: the frame with its own lightness and the propagated chroma. */
  readonly rgb?: RgbFrame;
  /** hdr: linear radiance. */
  readonly radiance?: RadianceImage;
}

export interface AnnotationContext {
  /** What the annotation is called in messages: a file name, or "key-frame 12". */
  readonly source: string;
  /** Called when an annotation is accepted with a change (e.g. resized by a pixel). */
  readonly warn?: (message: string) => void;
}

/** A key-frame's own content as the task sees it, at the video's size. */
export interface KeyframeContent {
  /** Ids this key-frame annotates (mask: objects; labels: classes present); [] for value tasks. */
  readonly ids: readonly number[];
  /** Build the property map in a layout (layouts widen as new ids arrive). */
  property(layout: ChannelLayout): PropertyMap;
  /**
   * Masks with partial key-frames ('add' mode): put the annotated objects into a predicted map.
   * Where an annotated object covers a pixel it wins; elsewhere the prediction stays, with the
   * annotated objects' probabilities removed (the annotation says they are not there).
   */
  composeWith?(predicted: PropertyMap, layout: ChannelLayout): PropertyMap;
  /** True when the annotation holds no object (masks); such key-frames are refused unless allowed. */
  readonly empty: boolean;
}

export type Refinement = (p: PropertyMap, frame: RgbFrame) => PropertyMap;

export interface TaskDefinition {
  readonly name: Task;
  readonly description: string;
  /** 'probabilities': channels are a distribution (merged, then argmax); 'values': measurements. */
  readonly kind: 'probabilities' | 'values';
  /** Annotation forms accepted, for messages. */
  readonly accepts: string;
  /** Whether a key-frame may annotate some objects only (the 'add' key-frame mode). */
  readonly partialKeyframes: boolean;
  /**
   * Check an annotation against the video size (resizing within 1 % with a warning, refusing
   * anything else) and turn it into key-frame content.
   */
  keyframe(a: Annotation, size: Size, ctx: AnnotationContext): KeyframeContent;
  /** Channel layout for all ids seen on key-frames (value tasks ignore the ids). */
  layout(ids: readonly number[]): ChannelLayout;
  /** Result fields of a property map at the video size. `frame` loads the original frame when needed. */
  toResult(p: PropertyMap, layout: ChannelLayout, frame: () => Promise<RgbFrame>, keyframe?: Annotation): Promise<TaskResultFields>;
  /** Optional post-processing by name (`--refine crf`). */
  readonly refinements: Readonly<Record<string, Refinement>>;
}

/** Size tolerance of annotations: within 1 % in each dimension they are resized, with a warning. */
export const ANNOTATION_SIZE_TOLERANCE = 0.01;

/** A result as the writers see it (the session's PropagationResult is one). */
export interface WritableResult extends TaskResultFields {
  readonly index: number;
  readonly isKeyframe: boolean;
  readonly property: PropertyMap;
}
