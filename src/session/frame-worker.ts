/**
 * The worker of Node's FramePool (node-pool.ts): runs `prepareFrame` of the module a job names
 * and posts the values back, transferring their typed arrays' buffers.
 */
import { parentPort } from 'node:worker_threads';
import type { PrepareFrame } from '../engines/types.js';

const modules = new Map<string, Promise<{ prepareFrame: PrepareFrame }>>();

parentPort?.on(
  'message',
  async (job: { id: number; module: string; options: unknown; frame: Parameters<PrepareFrame>[0]; index: number }) => {
    try {
      let m = modules.get(job.module);
      if (!m) {
        m = import(job.module) as Promise<{ prepareFrame: PrepareFrame }>;
        modules.set(job.module, m);
      }
      const { prepareFrame } = await m;
      if (typeof prepareFrame !== 'function') throw new Error(`${job.module} exports no prepareFrame`);
      const values = await prepareFrame(job.frame, job.index, job.options);
      parentPort?.postMessage({ id: job.id, values }, transferables(values));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      parentPort?.postMessage({ id: job.id, error: { message: e.message, stack: e.stack } });
    }
  },
);

/** Every distinct ArrayBuffer under a value (typed arrays in records, arrays and maps). */
function transferables(value: unknown, out = new Set<ArrayBuffer>(), seen = new Set<unknown>()): ArrayBuffer[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return [...out];
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer) out.add(value.buffer);
  } else if (value instanceof Map) {
    for (const v of value.values()) transferables(v, out, seen);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out, seen);
  } else {
    for (const v of Object.values(value)) transferables(v, out, seen);
  }
  return [...out];
}
