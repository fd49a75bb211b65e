/**
 * Messages between the page and its propagation worker (propagate-worker.ts). Frames and label
 * images cross as transferable buffers; everything else is plain data.
 */
import type { Direction, KeyframeMode, Task } from '../../src/browser.js';

export interface FrameData {
  readonly width: number;
  readonly height: number;
  /** Interleaved RGB. */
  readonly data: Uint8Array;
}

export type KeyframeAnnotation =
  | { readonly kind: 'mask'; readonly labels: FrameData & { readonly data: Uint8Array } }
  | { readonly kind: 'color'; readonly rgb: FrameData };

export interface RunSettings {
  readonly task: Task;
  readonly engine: string;
  readonly engineOptions: Record<string, unknown>;
  readonly direction: Direction;
  readonly from?: number;
  readonly to?: number;
  readonly maxInternalSize?: number;
}

export type ToWorker =
  | { readonly type: 'open'; readonly width: number; readonly height: number; readonly fps: number; readonly frames: Uint8Array[] }
  | { readonly type: 'keyframe'; readonly index: number; readonly mode: KeyframeMode; readonly annotation: KeyframeAnnotation }
  | { readonly type: 'removeKeyframe'; readonly index: number }
  /** Forget key-frames and results (the task changed); the frames stay. */
  | { readonly type: 'reset' }
  | { readonly type: 'propagate'; readonly runId: number; readonly settings: RunSettings }
  | { readonly type: 'cancel'; readonly runId: number };

export type FromWorker =
  | { readonly type: 'opened'; readonly frames: number }
  | {
      readonly type: 'progress';
      readonly runId: number;
      readonly done: number;
      readonly total: number;
      readonly fps: number;
      readonly frame: number;
    }
  | {
      readonly type: 'result';
      readonly runId: number;
      readonly index: number;
      readonly isKeyframe: boolean;
      /** The session computed this frame in this run (not served from its cache). */
      readonly computed: boolean;
      readonly labels?: Uint8Array;
      readonly rgb?: Uint8Array;
    }
  | { readonly type: 'done'; readonly runId: number; readonly seconds: number; readonly computed: number; readonly objectIds: number[] }
  | { readonly type: 'cancelled'; readonly runId: number }
  | { readonly type: 'error'; readonly runId?: number; readonly message: string };
