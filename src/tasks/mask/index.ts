/**
 * Masks: object ids per pixel. Property = K+1 probabilities, background first, one channel per
 * object id in ascending order (ids {1, 200} give 3 channels). Key-frames are whole-frame truth
 * (`{ mask }`) or per object (`{ objects: { id: mask } }`, which may annotate some objects only).
 */
import { InputError } from '../../core/errors.js';
import type { Annotation, BinaryMask, LabelImage, PropertyMap, Size } from '../../core/types.js';
import { labelsAtSize } from '../annotation.js';
import { labelIds, labelsAndPresence, labelsToProbabilities } from '../maps.js';
import { refineWithCrf } from '../refine.js';
import type { AnnotationContext, ChannelLayout, KeyframeContent, TaskDefinition } from '../types.js';

/** Lookup table object id → channel (−1 for ids without a channel). */
export function channelLookup(layout: ChannelLayout): Int16Array {
  const lut = new Int16Array(256).fill(-1);
  lut[0] = 0;
  (layout.objectIds ?? []).forEach((id, k) => {
    lut[id] = k + 1;
  });
  return lut;
}

/** Channel → object id (channel 0 → 0). */
export function channelIds(layout: ChannelLayout): Uint8Array {
  return Uint8Array.from([0, ...(layout.objectIds ?? [])]);
}

function checkId(id: number, source: string): void {
  if (!Number.isInteger(id) || id < 1 || id > 255) throw new InputError(source, `object id ${id} is outside 1..255`);
}

function objectEntries(objects: ReadonlyMap<number, BinaryMask> | Readonly<Record<number, BinaryMask>>): Array<[number, BinaryMask]> {
  if (objects instanceof Map) return [...objects.entries()];
  return Object.entries(objects as Record<string, BinaryMask>).map(([k, v]) => [Number(k), v]);
}

/**
 * Label image of the annotated objects (id per pixel; where masks overlap the higher id wins:
 * palette masks cannot represent overlap) and the ids annotated.
 */
function annotationLabels(a: Annotation, size: Size, ctx: AnnotationContext): { labels: LabelImage; ids: number[] } {
  if ('mask' in a) {
    const labels = labelsAtSize(a.mask, size, ctx, 'mask');
    return { labels, ids: labelIds(labels) };
  }
  if ('objects' in a) {
    const data = new Uint8Array(size.width * size.height);
    const entries = objectEntries(a.objects).sort((x, y) => x[0] - y[0]);
    for (const [id, m] of entries) {
      checkId(id, ctx.source);
      const img: LabelImage =
        m instanceof Uint8Array
          ? m.length === size.width * size.height
            ? { ...size, data: m }
            : (() => {
                throw new InputError(ctx.source, `object ${id}'s mask has ${m.length} pixels; the video has ${size.width}x${size.height}`);
              })()
          : m;
      const fitted = labelsAtSize(img, size, ctx, `object ${id}'s mask`);
      for (let i = 0; i < fitted.data.length; i++) if (fitted.data[i]) data[i] = id;
    }
    return { labels: { ...size, data }, ids: entries.map(([id]) => id) };
  }
  throw new InputError(
    ctx.source,
    `a mask key-frame needs \`mask\` (object id per pixel) or \`objects\` (id → binary mask), got ${Object.keys(a).join(', ')}`,
  );
}

export const maskTask: TaskDefinition = {
  name: 'mask',
  description: 'object masks (palette PNGs, object id per pixel)',
  kind: 'probabilities',
  accepts: '`mask` (object id per pixel), `objects` (id → binary mask) or `property`',
  partialKeyframes: true,

  keyframe(a, size, ctx): KeyframeContent {
    if ('property' in a) return propertyKeyframe(a.property, size, ctx);
    const { labels, ids } = annotationLabels(a, size, ctx);
    const annotated = new Set(ids);
    return {
      ids,
      empty: !labels.data.some((v) => v !== 0),
      property: (layout) => labelsToProbabilities(labels, layout.channels, channelLookup(layout)),
      composeWith(predicted, layout) {
        const n = size.width * size.height;
        const C = layout.channels;
        if (predicted.channels !== C) throw new RangeError(`compose: predicted map has ${predicted.channels} channels, layout ${C}`);
        const lut = channelLookup(layout);
        const drop = new Uint8Array(C);
        for (const id of annotated) if (lut[id] > 0) drop[lut[id]] = 1;
        const data = new Float32Array(C * n);
        for (let i = 0; i < n; i++) {
          const id = labels.data[i];
          if (id !== 0) {
            data[lut[id] * n + i] = 1;
            continue;
          }
          let sum = 0;
          for (let c = 0; c < C; c++) if (!drop[c]) sum += predicted.data[c * n + i];
          if (sum > 1e-12) for (let c = 0; c < C; c++) data[c * n + i] = drop[c] ? 0 : predicted.data[c * n + i] / sum;
          else data[i] = 1;
        }
        return { width: size.width, height: size.height, channels: C, data, confidence: predicted.confidence };
      },
    };
  },

  layout(ids) {
    const objectIds = [...new Set(ids)].sort((x, y) => x - y);
    return { channels: objectIds.length + 1, objectIds };
  },

  async toResult(p, layout) {
    return labelsAndPresence(p, layout.objectIds ?? [], channelIds(layout));
  },

  refinements: { crf: (p, frame) => refineWithCrf(p, frame) },
};

/** A ready property map as a key-frame (any task): taken as given, the layout must match it. */
export function propertyKeyframe(p: PropertyMap, size: Size, ctx: AnnotationContext): KeyframeContent {
  if (p.width !== size.width || p.height !== size.height)
    throw new InputError(ctx.source, `property map is ${p.width}x${p.height} but the video is ${size.width}x${size.height}`);
  if (p.data.length !== p.channels * p.width * p.height)
    throw new InputError(ctx.source, `property map holds ${p.data.length} values for ${p.channels}x${p.height}x${p.width}`);
  return {
    ids: [],
    empty: false,
    property(layout) {
      if (layout.channels !== p.channels)
        throw new InputError(ctx.source, `property map has ${p.channels} channels but the task's layout has ${layout.channels}`);
      return p;
    },
  };
}
