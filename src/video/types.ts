/** Frame sources and sinks. The frame and label types themselves live in core/types.ts. */
import type { IndexedFrame } from '../core/types.js';

export type SourceKind = 'video' | 'folder' | 'davis' | 'iterable';

export interface SourceInfo {
  readonly kind: SourceKind;
  /** Human-readable origin (path or description), used in error messages. */
  readonly origin: string;
  readonly width: number;
  readonly height: number;
  /** Number of frames; undefined when the source cannot know it (a live iterable). */
  readonly frameCount: number | undefined;
  /** Frames per second when known. */
  readonly fps: number | undefined;
}

/**
 * A frame source: streams frames in order with bounded memory and gives random access by index.
 * Iterating yields frames 0..frameCount-1; `frames(from, to)` yields the half-open range [from, to).
 */
export interface FrameSource extends AsyncIterable<IndexedFrame> {
  readonly info: SourceInfo;
  /** Random access to one frame (may re-decode; sources cache only a bounded number of frames). */
  frame(index: number): Promise<IndexedFrame>;
  /** Stream the half-open range [from, to) in order. `to` defaults to the end. */
  frames(from?: number, to?: number): AsyncIterable<IndexedFrame>;
  /** Release processes and file handles. Safe to call twice. */
  close(): Promise<void>;
}

/** A sink consumes frames (or label images) by index and finishes atomically. */
export interface FrameSink<T> {
  write(index: number, item: T): Promise<void>;
  /** Flush and finalise (rename temporary outputs into place). */
  close(): Promise<void>;
  /** Abandon: remove partial outputs that were not finalised. */
  abort(): Promise<void>;
}
