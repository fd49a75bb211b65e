/**
 * Exporting propagated masks as the files annotation tools read (PEERS P9): DAVIS palette PNGs,
 * one binary PNG per object (the SA-V layout: folder `000/` holds object 1), and COCO run-length
 * JSON with object (track) ids. Pure: the browser app and the HTTP service build the same archive
 * layout from these, each with its own zip writer.
 *
 *   masks/00000.png          palette PNG, pixel value = object id
 *   objects/000/00000.png    object 1, 0/255 grayscale (every object has every frame)
 *   coco.json                see `CocoVideoAnnotations`
 */
import type { LabelImage } from '../core/types.js';
import { encodeBinaryMaskPng, encodePalettePng, type PngDeflate, splitObjects } from './png-codec.js';
import { type CompressedRle, encodeRle } from './rle.js';

export interface ExportFile {
  readonly name: string;
  readonly data: Uint8Array;
}

export function frameFileStem(index: number): string {
  return String(index).padStart(5, '0');
}

/** Folder of object `id` in the per-object layout (SA-V numbers objects from 000). */
export function objectFolder(id: number): string {
  return String(id - 1).padStart(3, '0');
}

/**
 * The files of one frame: its palette PNG and one binary PNG per object in `objectIds` (objects
 * absent from the frame get an empty mask, so every object folder has every frame).
 */
export function maskExportFiles(
  index: number,
  labels: LabelImage,
  objectIds: readonly number[],
  opts: { deflate?: PngDeflate; palettePng?: Uint8Array } = {},
): ExportFile[] {
  const stem = frameFileStem(index);
  const files: ExportFile[] = [{ name: `masks/${stem}.png`, data: opts.palettePng ?? encodePalettePng(labels, undefined, opts) }];
  const masks = splitObjects(labels);
  const ids = [...new Set([...objectIds, ...masks.keys()])].sort((a, b) => a - b);
  for (const id of ids) {
    const mask = masks.get(id) ?? new Uint8Array(labels.width * labels.height);
    files.push({
      name: `objects/${objectFolder(id)}/${stem}.png`,
      data: encodeBinaryMaskPng(mask, labels.width, labels.height, opts.deflate),
    });
  }
  return files;
}

export interface CocoAnnotation {
  readonly id: number;
  readonly image_id: number;
  /** The object (track) id: the pixel value in the palette PNGs. */
  readonly object_id: number;
  readonly category_id: number;
  readonly segmentation: CompressedRle;
  readonly area: number;
  /** [x, y, width, height] of the object's pixels. */
  readonly bbox: [number, number, number, number];
  readonly iscrowd: 0;
}

/**
 * COCO-style JSON for a video's masks: `images` are frames (`id` = frame index), `annotations`
 * hold one compressed RLE (pycocotools-compatible, column-major) per object present in a frame,
 * with `object_id` naming the track as YouTube-VIS and TAO do.
 */
export class CocoVideoAnnotations {
  private readonly images: Array<{ id: number; file_name: string; width: number; height: number }> = [];
  private readonly annotations: Array<Omit<CocoAnnotation, 'id'>> = [];
  private readonly objects = new Set<number>();

  constructor(private readonly description = 'vprop propagated masks') {}

  add(index: number, labels: LabelImage): void {
    const { width, height } = labels;
    this.images.push({ id: index, file_name: `${frameFileStem(index)}.png`, width, height });
    for (const [id, mask] of splitObjects(labels)) {
      this.objects.add(id);
      let area = 0;
      let x0 = width;
      let y0 = height;
      let x1 = -1;
      let y1 = -1;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          if (!mask[y * width + x]) continue;
          area++;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
      }
      this.annotations.push({
        image_id: index,
        object_id: id,
        category_id: 1,
        segmentation: encodeRle(mask, height, width),
        area,
        bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1],
        iscrowd: 0,
      });
    }
  }

  toJSON(): object {
    return {
      info: { description: this.description },
      images: [...this.images].sort((a, b) => a.id - b.id),
      categories: [{ id: 1, name: 'object' }],
      objects: [...this.objects].sort((a, b) => a - b),
      annotations: [...this.annotations]
        .sort((a, b) => a.image_id - b.image_id || a.object_id - b.object_id)
        .map((a, i): CocoAnnotation => ({ id: i + 1, ...a })),
    };
  }
}
