/** The tasks (pure part): one definition per modality, looked up by name. */
import { InputError } from '../core/errors.js';
import { TASKS, type Task } from '../core/types.js';
import { colorTask } from './color/index.js';
import { hdrTask } from './hdr/index.js';
import { labelsTask } from './labels/index.js';
import { maskTask } from './mask/index.js';
import type { TaskDefinition } from './types.js';

export { colorTask, colorToProperty, composeColor } from './color/index.js';
export { HDR_LOG_EPSILON, hdrTask, propertyToRadiance, radianceToProperty } from './hdr/index.js';
export {
  blendLdrIntoProperty,
  blendLdrIntoRadiance,
  channelTrust,
  constrainRadianceToLdr,
  constrainToLdr,
  DEFAULT_WELL_EXPOSED,
  estimateExposure,
  type LdrBlendOptions,
  type LdrBlendResult,
  ldrToRadiance,
  type WellExposedRule,
  wellExposedWeights,
} from './hdr/ldr.js';
export { labelsTask } from './labels/index.js';
export { labelIds, labelsToProbabilities, maxLabel, objectPresence, padChannels, probabilitiesToLabels } from './maps.js';
export { channelIds, channelLookup, maskTask } from './mask/index.js';
export { type CrfSettings, refineWithCrf } from './refine.js';
export type { AnnotationContext, ChannelLayout, KeyframeContent, Refinement, TaskDefinition, TaskResultFields } from './types.js';

const definitions: Record<Task, TaskDefinition> = { mask: maskTask, labels: labelsTask, color: colorTask, hdr: hdrTask };

export function getTask(name: string): TaskDefinition {
  const t = definitions[name as Task];
  if (!t) throw new InputError('task', `unknown task "${name}" (tasks: ${TASKS.join(', ')})`);
  return t;
}
