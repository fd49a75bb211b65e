/** Checks shared by the tasks' key-frame readers: sizes, with a 1 % tolerance resolved by resizing. */
import { InputError } from '../core/errors.js';
import { checkShape } from '../core/shape.js';
import type { LabelImage, Size } from '../core/types.js';
import { resizeNearestU8 } from '../ops/resize.js';
import { ANNOTATION_SIZE_TOLERANCE, type AnnotationContext } from './types.js';

/**
 * A label image (or binary mask) at the video size: equal sizes pass through; within 1 % in each
 * dimension it is resized by nearest neighbour with a warning naming the source (Cutie's own
 * example has an 853x480 mask for 854x480 frames); anything else is an InputError.
 */
export function labelsAtSize(img: LabelImage, size: Size, ctx: AnnotationContext, what = 'annotation'): LabelImage {
  if (img.data.length !== img.width * img.height) {
    throw new InputError(ctx.source, `${what} holds ${img.data.length} pixels for ${img.width}x${img.height}`);
  }
  const fit = checkShape(ctx.source, img, size, { tolerance: ANNOTATION_SIZE_TOLERANCE });
  if (fit === 'exact') return img;
  ctx.warn?.(`${ctx.source}: ${what} is ${img.width}x${img.height}, resized (nearest) to the video's ${size.width}x${size.height}`);
  return { width: size.width, height: size.height, data: resizeNearestU8(img.data, img.width, img.height, size.width, size.height) };
}

/** Equal sizes only (colour and HDR key-frames carry pixel values; a resized one would be a different image). */
export function requireSize(img: Size, size: Size, ctx: AnnotationContext): void {
  checkShape(ctx.source, img, size);
}
