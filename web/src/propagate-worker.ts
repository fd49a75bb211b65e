/**
 * The page's propagation worker: the library's browser entry (`src/browser.ts`: the session over
 * in-memory frames, the pure TypeScript engines copy and bilateral) off the main thread, so the
 * page stays responsive while frames are computed. One session is kept per task, engine, options
 * and working size; key-frames are given to it as they change, so a correction recomputes only
 * the frames it affects (the session's result cache) and every other result comes back at once.
 */
import { type Annotation, isAbortError, openSession, type PropagationSession, type RgbFrame } from '../../src/browser.js';
import type { FromWorker, KeyframeAnnotation, RunSettings, ToWorker } from './protocol.js';

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

let frames: RgbFrame[] = [];
let fps = 24;
const keyframes = new Map<number, { mode: 'add' | 'replace'; annotation: KeyframeAnnotation }>();
let session: { key: string; session: PropagationSession; given: Map<number, unknown> } | undefined;
const runs = new Map<number, AbortController>();
/** Serialises runs: one propagation at a time over the shared session. */
let queue: Promise<void> = Promise.resolve();

function toAnnotation(a: KeyframeAnnotation): Annotation {
  return a.kind === 'mask' ? { mask: a.labels } : { color: a.rgb };
}

async function sessionFor(s: RunSettings): Promise<PropagationSession> {
  const key = JSON.stringify([s.task, s.engine, s.engineOptions, s.maxInternalSize ?? null]);
  if (!session || session.key !== key) {
    await session?.session.dispose(false);
    const created = await openSession(frames, {
      task: s.task,
      engine: s.engine,
      engineOptions: s.engineOptions,
      maxInternalSize: s.maxInternalSize,
      fps,
      onProgress: (p) => progressSink?.(p),
    });
    session = { key, session: created, given: new Map() };
  }
  // Bring the session's key-frames up to date (only changed ones are given again).
  const current = session;
  for (const [index, given] of current.given) {
    if (keyframes.get(index) !== given) {
      current.session.removeKeyframe(index);
      current.given.delete(index);
    }
  }
  for (const [index, kf] of keyframes) {
    if (current.given.get(index) === kf) continue;
    current.session.addKeyframe(index, toAnnotation(kf.annotation), { mode: kf.mode, source: `key-frame ${index}` });
    current.given.set(index, kf);
  }
  return current.session;
}

async function propagate(runId: number, s: RunSettings): Promise<void> {
  const controller = runs.get(runId) ?? new AbortController();
  runs.set(runId, controller);
  const started = performance.now();
  const computed = new Set<number>();
  try {
    const sess = await sessionFor(s);
    const iterator = sess.propagate({ direction: s.direction, from: s.from, to: s.to, signal: controller.signal });
    // Progress comes through the session's callback; wire it for this run only.
    progressSink = (p) => {
      computed.add(p.frame);
      post({ type: 'progress', runId, done: p.done, total: p.total, fps: p.framesPerSecond, frame: p.frame });
    };
    for await (const r of iterator) {
      // Frames in memory resolve at once, so the loop would never leave the microtask queue and a
      // cancel message could not be handled until the end: give the event loop a turn per frame.
      await new Promise((resolve) => setTimeout(resolve, 0));
      const labels = r.labels ? new Uint8Array(r.labels.data) : undefined;
      const rgb = r.rgb ? new Uint8Array(r.rgb.data) : undefined;
      post({ type: 'result', runId, index: r.index, isKeyframe: r.isKeyframe, computed: computed.has(r.index), labels, rgb }, [
        ...(labels ? [labels.buffer] : []),
        ...(rgb ? [rgb.buffer] : []),
      ]);
    }
    post({ type: 'done', runId, seconds: (performance.now() - started) / 1000, computed: computed.size, objectIds: [...sess.objectIds] });
  } catch (err) {
    if (isAbortError(err)) post({ type: 'cancelled', runId });
    else post({ type: 'error', runId, message: err instanceof Error ? err.message : String(err) });
  } finally {
    progressSink = undefined;
    runs.delete(runId);
  }
}

let progressSink: ((p: { done: number; total: number; framesPerSecond: number; frame: number }) => void) | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  try {
    if (m.type === 'open') {
      frames = m.frames.map((data) => ({ width: m.width, height: m.height, data }));
      fps = m.fps;
      keyframes.clear();
      const old = session;
      session = undefined;
      queue = queue.then(() => old?.session.dispose(false));
      post({ type: 'opened', frames: frames.length });
    } else if (m.type === 'reset') {
      keyframes.clear();
      const old = session;
      session = undefined;
      queue = queue.then(() => old?.session.dispose(false));
    } else if (m.type === 'keyframe') {
      keyframes.set(m.index, { mode: m.mode, annotation: m.annotation });
    } else if (m.type === 'removeKeyframe') {
      keyframes.delete(m.index);
    } else if (m.type === 'propagate') {
      runs.set(m.runId, new AbortController()); // so a cancel that arrives before the run starts counts
      queue = queue.then(() => propagate(m.runId, m.settings));
    } else if (m.type === 'cancel') {
      runs.get(m.runId)?.abort();
    }
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
