/**
 * `vprop serve`: the HTTP API (described in openapi.yaml beside this file) and the web app.
 *
 * Framework: Fastify. It is one of the two mainstream Node frameworks (with Express) and the one
 * that brings what this service needs without extra parts: JSON-schema validation of request
 * bodies and query strings (bad input becomes a 400 before a handler runs), content-type parsers
 * that can hand a handler the raw request stream (uploads go to disk as they arrive, never into
 * memory), hijackable replies for Server-Sent Events, `inject()` for tests without a socket, and
 * maintained plugins (`@fastify/static` for the web app). Express 5 would need body-parser,
 * a validator and more glue for the same.
 *
 * Security: binds 127.0.0.1 unless told otherwise; any other address needs a token, checked on
 * every /api request (`Authorization: Bearer <token>`, or `?token=` for EventSource and download
 * links). Ids in paths must be ids this service generated; frame indices must be digits; every
 * stored path is built in workspace.ts. Uploads are capped in bytes, frames and pixels.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { InputError } from '../core/errors.js';
import { TASKS, type Task } from '../core/types.js';
import { bestEngineFor, createEngine, engineRegistrations, getEngineRegistration } from '../engines/index.js';
import type { Direction, KeyframeMode } from '../session/session.js';
import { getTaskFiles } from '../tasks/files.js';
import { getTask } from '../tasks/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { RESULT_FILES, RESULT_VIDEOS, resultFrameName, resultZip } from './exports.js';
import { type JobEvent, type JobKeyframe, type JobSpec, readSpec, readStatus, TERMINAL_STATES, writeStatus } from './jobs.js';
import type { JobQueue } from './queue.js';
import { acceptVideo, HttpError, readHead, receiveBody, scrubPaths, sniff, type VideoInfo } from './uploads.js';
import { checkId, checkIndex, jobPaths, newId, Workspace } from './workspace.js';

export interface ServerOptions {
  /** Data folder (uploads, job workspaces). */
  readonly data: string;
  readonly queue: JobQueue;
  /** Required on every /api request when set. */
  readonly token?: string;
  /** Largest upload in bytes (default 2 GiB). */
  readonly maxUploadBytes?: number;
  /** Most frames per video (default 10,000). */
  readonly maxFrames?: number;
  /** Most pixels per frame (default 4096 x 2160). */
  readonly maxPixels?: number;
  /** Folder of the built web app (default dist/web of this package); absent = API only. */
  readonly webRoot?: string;
  readonly logger?: boolean;
  readonly version?: string;
}

const KEYFRAME_LIMIT = 256 * 1024 * 1024;
const KEYFRAME_KINDS: Record<Task, readonly string[]> = { mask: ['png'], labels: ['png'], color: ['png', 'jpg'], hdr: ['exr', 'hdr'] };
/** Option types a client may set over HTTP: paths and library values (models, functions) stay local. */
const HTTP_OPTION_TYPES = new Set(['number', 'boolean', 'enum', 'numbers']);

/** dist/web of this package, from src/server or dist/server alike. */
export function defaultWebRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'web');
}

export async function createServer(opts: ServerOptions): Promise<FastifyInstance> {
  const ws = new Workspace(opts.data);
  for (const d of [ws.videosRoot, ws.jobsRoot, ws.uploadsRoot]) await mkdir(d, { recursive: true });
  const maxUpload = opts.maxUploadBytes ?? 2 * 1024 ** 3;
  const limits = { maxFrames: opts.maxFrames ?? 10_000, maxPixels: opts.maxPixels ?? 4096 * 2160, maxUnpackedBytes: 4 * maxUpload };
  const queue = opts.queue;
  // Unknown body properties are errors, not silently dropped (Fastify's default removes them).
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 1024 * 1024, ajv: { customOptions: { removeAdditional: false } } });

  // Raw bodies (uploads) reach handlers as the request stream; JSON keeps Fastify's parser.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    // A body left unread (an upload refused half-way) would make the next request on this
    // connection wait behind it: close the connection after the answer.
    if (!req.raw.complete) reply.header('connection', 'close');
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    if (err instanceof InputError) return reply.code(400).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: err.message });
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message });
    app.log.error(err);
    return reply.code(500).send({ error: 'internal error' });
  });

  if (opts.token) {
    const expected = Buffer.from(opts.token);
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/api/') || req.url.startsWith('/api/health')) return;
      const header = req.headers.authorization;
      const given = header?.startsWith('Bearer ') ? header.slice(7) : (req.query as Record<string, string> | undefined)?.token;
      const ok = given !== undefined && given.length === expected.length && timingSafeEqual(Buffer.from(given), expected);
      if (!ok) return reply.code(401).send({ error: 'this server needs its token: Authorization: Bearer <token> (or ?token=)' });
    });
  }

  const webRoot = opts.webRoot ?? defaultWebRoot();
  if (existsSync(join(webRoot, 'index.html'))) {
    await app.register(fastifyStatic, { root: webRoot, prefix: '/', index: ['index.html'] });
  } else {
    app.get('/', async (_req, reply) =>
      reply.type('text/plain').send('vprop serve: the web app is not built (run `npm run build`); the API is under /api/'),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Service

  app.get('/api/health', async () => ({
    ok: true,
    service: 'vprop',
    version: opts.version,
    queue: queue.kind,
    auth: !!opts.token,
    limits: { maxUploadBytes: maxUpload, maxFrames: limits.maxFrames, maxPixels: limits.maxPixels },
  }));

  app.get('/api/engines', async () =>
    engineRegistrations().map((r) => ({
      name: r.name,
      description: r.description,
      tasks: r.tasks,
      needsKeyframes: r.needsKeyframes !== false,
      preference: r.preference ?? {},
      options: Object.fromEntries(
        Object.entries(r.options)
          .filter(([, s]) => HTTP_OPTION_TYPES.has(s.type))
          .map(([k, s]) => [k, { ...s, check: undefined, signature: undefined }]),
      ),
    })),
  );

  app.get('/api/openapi.yaml', async (_req, reply) =>
    reply.type('application/yaml').send(await readFile(join(dirname(fileURLToPath(import.meta.url)), 'openapi.yaml'), 'utf8')),
  );

  // ---------------------------------------------------------------------------------------------
  // Videos

  const videoInfo = async (videoId: string): Promise<VideoInfo> => {
    const dir = ws.videoDir(videoId);
    try {
      return JSON.parse(await readFile(join(dir, 'video.json'), 'utf8')) as VideoInfo;
    } catch {
      throw new HttpError(404, `no video ${videoId}`);
    }
  };

  app.post('/api/videos', async (req: FastifyRequest, reply) => {
    const id = newId();
    const tmp = join(ws.uploadsRoot, `${id}.upload`);
    const declared = req.headers['content-length'] ? Number(req.headers['content-length']) : undefined;
    const bytes = await receiveBody(req.body as NodeJS.ReadableStream as import('node:stream').Readable, tmp, maxUpload, declared);
    const info = await acceptVideo(tmp, ws.videoDir(id), bytes, limits);
    return reply.code(201).send({ id, ...info });
  });

  app.get('/api/videos/:videoId', async (req) => {
    const { videoId } = req.params as { videoId: string };
    const info = await videoInfo(checkId('videoId', videoId));
    return { id: videoId, ...info, keyframes: await listKeyframes(videoId) };
  });

  app.delete('/api/videos/:videoId', async (req, reply) => {
    const { videoId } = req.params as { videoId: string };
    await videoInfo(checkId('videoId', videoId));
    await rm(ws.videoDir(videoId), { recursive: true, force: true });
    return reply.code(204).send();
  });

  const keyframeDir = (videoId: string, task: Task) => join(ws.videoDir(videoId), 'keyframes', task);

  async function listKeyframes(videoId: string): Promise<Array<{ task: Task; index: number; mode: KeyframeMode; file: string }>> {
    const out = [];
    for (const task of TASKS) {
      let names: string[] = [];
      try {
        names = await readdir(keyframeDir(videoId, task));
      } catch {}
      for (const name of names) {
        const m = /^(\d+)\.(add|replace)\.(\w+)$/.exec(name);
        if (m) out.push({ task, index: Number(m[1]), mode: m[2] as KeyframeMode, file: name });
      }
    }
    return out.sort((a, b) => a.task.localeCompare(b.task) || a.index - b.index);
  }

  const taskParam = (value: unknown): Task => {
    if (typeof value !== 'string' || !(TASKS as readonly string[]).includes(value))
      throw new InputError('task', `must be one of ${TASKS.join(', ')}`);
    return value as Task;
  };

  app.put('/api/videos/:videoId/keyframes/:index', async (req, reply) => {
    const { videoId, index: rawIndex } = req.params as { videoId: string; index: string };
    const query = req.query as { task?: string; mode?: string; allowEmpty?: string };
    const info = await videoInfo(checkId('videoId', videoId));
    const index = checkIndex('index', rawIndex, info.frameCount);
    const task = taskParam(query.task ?? 'mask');
    const mode = (query.mode ?? 'replace') as KeyframeMode;
    if (mode !== 'add' && mode !== 'replace') throw new InputError('mode', "must be 'add' or 'replace'");
    if (mode === 'add' && !getTask(task).partialKeyframes) throw new InputError('mode', `the ${task} task has no partial key-frames`);
    const dir = keyframeDir(videoId, task);
    await mkdir(dir, { recursive: true });
    const tmp = join(ws.uploadsRoot, `${newId()}.keyframe`);
    const declared = req.headers['content-length'] ? Number(req.headers['content-length']) : undefined;
    await receiveBody(req.body as import('node:stream').Readable, tmp, KEYFRAME_LIMIT, declared);
    try {
      const kind = sniff(await readHead(tmp));
      if (!kind || !KEYFRAME_KINDS[task].includes(kind))
        throw new HttpError(415, `a ${task} key-frame must be ${KEYFRAME_KINDS[task].join(' or ')} (checked by content)`);
      // Read and check it exactly as a job will: size against the video, ids, emptiness.
      const source = `key-frame ${index}`;
      const named = join(dirname(tmp), `${newId()}.${kind}`);
      await link(tmp, named);
      let annotation: Awaited<ReturnType<ReturnType<typeof getTaskFiles>['readAnnotation']>>;
      try {
        annotation = await getTaskFiles(task).readAnnotation(named);
      } catch (err) {
        throw new HttpError(422, scrubPaths(err instanceof InputError ? `${source}: ${err.problem}` : (err as Error).message, named, tmp));
      } finally {
        await rm(named, { force: true });
      }
      const content = getTask(task).keyframe(annotation, { width: info.width, height: info.height }, { source });
      if (content.empty && query.allowEmpty !== 'true')
        throw new HttpError(422, `${source} holds no object (every pixel is background); pass allowEmpty=true to say no object is visible`);
      for (const old of await readdir(dir)) if (old.startsWith(`${index}.`)) await rm(join(dir, old), { force: true });
      const name = `${index}.${mode}.${kind}`;
      await writeFileAtomic(join(dir, name), await readFile(tmp));
      return reply.code(201).send({ task, index, mode, ids: content.ids });
    } finally {
      await rm(tmp, { force: true });
    }
  });

  app.get('/api/videos/:videoId/keyframes', async (req) => {
    const { videoId } = req.params as { videoId: string };
    await videoInfo(checkId('videoId', videoId));
    return listKeyframes(videoId);
  });

  app.delete('/api/videos/:videoId/keyframes/:index', async (req, reply) => {
    const { videoId, index: rawIndex } = req.params as { videoId: string; index: string };
    const info = await videoInfo(checkId('videoId', videoId));
    const index = checkIndex('index', rawIndex, info.frameCount);
    const task = taskParam((req.query as { task?: string }).task ?? 'mask');
    const dir = keyframeDir(videoId, task);
    let removed = 0;
    for (const old of await readdir(dir).catch(() => [] as string[])) {
      if (old.startsWith(`${index}.`)) {
        await rm(join(dir, old), { force: true });
        removed++;
      }
    }
    if (removed === 0) throw new HttpError(404, `no ${task} key-frame on frame ${index}`);
    return reply.code(204).send();
  });

  // ---------------------------------------------------------------------------------------------
  // Jobs

  const jobSpecOf = async (jobId: string): Promise<JobSpec> => {
    try {
      return await readSpec(ws.jobDir(checkId('jobId', jobId)));
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new HttpError(404, `no job ${jobId}`);
    }
  };

  const jobView = async (jobId: string) => {
    const spec = await jobSpecOf(jobId);
    const status = await readStatus(ws.jobDir(jobId));
    return { id: jobId, spec, status: status ?? { state: 'queued', written: 0, computed: 0, total: spec.frameCount, attempt: 0 } };
  };

  app.post(
    '/api/jobs',
    {
      schema: {
        body: {
          type: 'object',
          required: ['videoId'],
          additionalProperties: false,
          properties: {
            videoId: { type: 'string' },
            task: { type: 'string', enum: [...TASKS] },
            engine: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
            engineOptions: { type: 'object' },
            direction: { type: 'string', enum: ['forward', 'backward', 'both'] },
            from: { type: 'integer', minimum: 0 },
            to: { type: 'integer', minimum: 0 },
            maxInternalSize: { type: 'integer', minimum: 16, maximum: 8192 },
            refine: { type: 'string', enum: ['none', 'crf'] },
            video: { type: 'boolean' },
            basedOn: { type: 'string' },
          },
        },
      },
    },
    async (req, reply) => {
      const body = req.body as {
        videoId: string;
        task?: Task;
        engine?: string;
        engineOptions?: Record<string, unknown>;
        direction?: Direction;
        from?: number;
        to?: number;
        maxInternalSize?: number;
        refine?: string;
        video?: boolean;
        basedOn?: string;
      };
      const videoId = checkId('videoId', body.videoId);
      const info = await videoInfo(videoId);
      const task = body.task ?? 'mask';
      const engine = body.engine ?? bestEngineFor(task);
      const reg = getEngineRegistration(engine);
      if (!reg.tasks.includes(task))
        throw new InputError('engine', `engine ${engine} does not do the ${task} task (it does ${reg.tasks.join(', ')})`);
      const engineOptions = body.engineOptions ?? {};
      for (const key of Object.keys(engineOptions)) {
        const spec = reg.options[key];
        if (spec && !HTTP_OPTION_TYPES.has(spec.type))
          throw new InputError(`engineOptions.${key}`, 'takes a file path or a library value: not settable over HTTP');
      }
      createEngine(engine, engineOptions); // validates names and values now, as a 400
      if (body.refine && body.refine !== 'none' && !getTask(task).refinements[body.refine])
        throw new InputError('refine', `the ${task} task has no refinement "${body.refine}"`);
      if (body.from !== undefined && body.to !== undefined && body.from > body.to)
        throw new InputError('from', `${body.from} is after to ${body.to}`);
      const kfs = (await listKeyframes(videoId)).filter((k) => k.task === task);
      if (kfs.length === 0 && reg.needsKeyframes !== false)
        throw new HttpError(409, `video ${videoId} has no ${task} key-frame: PUT /api/videos/${videoId}/keyframes/INDEX first`);
      let basedOn: string | undefined;
      if (body.basedOn !== undefined) {
        basedOn = checkId('basedOn', body.basedOn);
        const base = await jobSpecOf(basedOn);
        if (base.videoId !== videoId || base.task !== task) throw new InputError('basedOn', `job ${basedOn} is of another video or task`);
      }

      const id = newId();
      const dir = ws.jobDir(id);
      const p = jobPaths(dir);
      await mkdir(p.keyframes, { recursive: true });
      try {
        const vdir = ws.videoDir(videoId);
        let input: string;
        if (info.kind === 'video') {
          input = `input.${info.source.split('.').pop()}`;
          await linkOrCopy(join(vdir, info.source), join(dir, input));
        } else {
          input = 'frames';
          await mkdir(join(dir, input));
          for (const name of await readdir(join(vdir, info.source)))
            await linkOrCopy(join(vdir, info.source, name), join(dir, input, name));
        }
        const keyframes: JobKeyframe[] = [];
        for (const k of kfs) {
          await linkOrCopy(join(keyframeDir(videoId, task), k.file), join(p.keyframes, k.file));
          keyframes.push({ index: k.index, mode: k.mode, file: k.file });
        }
        if (basedOn) await linkTree(join(ws.jobDir(basedOn), 'cache'), p.cache);
        const spec: JobSpec = {
          id,
          videoId,
          task,
          engine,
          engineOptions,
          direction: body.direction ?? 'both',
          from: body.from,
          to: body.to,
          maxInternalSize: body.maxInternalSize,
          refine: body.refine,
          keyframes,
          input,
          frameCount: info.frameCount,
          video: body.video ?? task !== 'hdr',
          basedOn,
          createdAt: new Date().toISOString(),
        };
        await writeFileAtomic(p.spec, `${JSON.stringify(spec, null, 1)}\n`);
        await queue.enqueue(id);
        return reply.code(202).send({ id, state: 'queued', spec });
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    },
  );

  app.get('/api/jobs', async () => {
    const ids = (await readdir(ws.jobsRoot)).filter((n) => /^[0-9a-f]{32}$/.test(n));
    const out = [];
    for (const id of ids) {
      const status = await readStatus(ws.jobDir(id)).catch(() => undefined);
      const spec = await readSpec(ws.jobDir(id)).catch(() => undefined);
      if (spec) out.push({ id, videoId: spec.videoId, task: spec.task, createdAt: spec.createdAt, state: status?.state ?? 'queued' });
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  });

  app.get('/api/jobs/:jobId', async (req) => jobView((req.params as { jobId: string }).jobId));

  app.get('/api/jobs/:jobId/events', async (req, reply) => {
    const { jobId } = req.params as { jobId: string };
    await jobSpecOf(jobId);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (e: { type: string }) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      unsubscribe();
      clearInterval(ping);
      res.end();
    };
    // Subscribe first, then read the status: events in between are held and sent after it.
    let held: JobEvent[] | undefined = [];
    const deliver = (e: JobEvent) => {
      if (ended) return;
      send(e);
      if (e.type === 'state' && TERMINAL_STATES.includes(e.state)) end();
    };
    const unsubscribe = queue.subscribe(jobId, (e: JobEvent) => (held ? held.push(e) : deliver(e)));
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.raw.on('close', end);
    const view = await jobView(jobId);
    send({ type: 'status', ...view.status });
    if (TERMINAL_STATES.includes(view.status.state)) end();
    const backlog = held;
    held = undefined;
    for (const e of backlog) deliver(e);
  });

  app.post('/api/jobs/:jobId/cancel', async (req, reply) => {
    const { jobId } = req.params as { jobId: string };
    const view = await jobView(jobId);
    if (TERMINAL_STATES.includes(view.status.state)) return reply.code(409).send({ error: `job ${jobId} is already ${view.status.state}` });
    const dir = ws.jobDir(jobId);
    await writeFile(jobPaths(dir).cancel, '');
    if (await queue.removeWaiting(jobId)) {
      await writeStatus(dir, { ...view.status, state: 'cancelled' });
      return reply.code(200).send({ id: jobId, state: 'cancelled' });
    }
    return reply.code(202).send({ id: jobId, state: 'cancelling' });
  });

  app.delete('/api/jobs/:jobId', async (req, reply) => {
    const { jobId } = req.params as { jobId: string };
    const view = await jobView(jobId);
    const dir = ws.jobDir(jobId);
    if (!TERMINAL_STATES.includes(view.status.state)) {
      await writeFile(jobPaths(dir).cancel, '');
      if (!(await queue.removeWaiting(jobId))) {
        // Running: it stops at its next frame; wait a little for it.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline && (await queue.pending(jobId))) await new Promise((r) => setTimeout(r, 100));
        if (await queue.pending(jobId)) return reply.code(409).send({ error: `job ${jobId} is still stopping; try again` });
      }
    }
    await rm(dir, { recursive: true, force: true });
    return reply.code(204).send();
  });

  const finishedJob = async (jobId: string) => {
    const view = await jobView(jobId);
    return { ...view, out: jobPaths(ws.jobDir(jobId)).out };
  };

  app.get('/api/jobs/:jobId/frames/:index', async (req, reply) => {
    const { jobId, index: rawIndex } = req.params as { jobId: string; index: string };
    const { spec, out } = await finishedJob(jobId);
    const index = checkIndex('index', rawIndex, spec.frameCount);
    const path = join(out, resultFrameName(spec.task, index));
    try {
      const bytes = await readFile(path);
      return reply.type(RESULT_FILES[spec.task].type).header('cache-control', 'no-store').send(bytes);
    } catch {
      throw new HttpError(404, `frame ${index} of job ${jobId} is not written (yet)`);
    }
  });

  app.get('/api/jobs/:jobId/result.zip', async (req, reply) => {
    const { jobId } = req.params as { jobId: string };
    const { spec, status, out } = await finishedJob(jobId);
    if (status.state !== 'done') throw new HttpError(409, `job ${jobId} is ${status.state}; its results are complete when it is done`);
    return reply
      .type('application/zip')
      .header('content-disposition', `attachment; filename="vprop-${jobId.slice(0, 8)}.zip"`)
      .send(resultZip(out, spec.task, status.objectIds ?? []));
  });

  app.get('/api/jobs/:jobId/video', async (req, reply) => {
    const { jobId } = req.params as { jobId: string };
    const { spec, status, out } = await finishedJob(jobId);
    const name = RESULT_VIDEOS[spec.task];
    if (!name || !spec.video) throw new HttpError(404, `job ${jobId} writes no video (task ${spec.task})`);
    if (status.state !== 'done') throw new HttpError(409, `job ${jobId} is ${status.state}; its video is written when it is done`);
    const path = join(out, name);
    const st = await stat(path).catch(() => null);
    if (!st) throw new HttpError(404, `job ${jobId} has no video`);
    const { createReadStream } = await import('node:fs');
    return reply
      .type('video/mp4')
      .header('content-length', st.size)
      .header('content-disposition', `attachment; filename="vprop-${jobId.slice(0, 8)}-${name}"`)
      .send(createReadStream(path));
  });

  app.addHook('onClose', async () => {
    await queue.close();
  });

  // The in-process queue lives in this process: jobs a previous server left queued or running are
  // queued again, in the order they were made, and resume from their workspace caches. (A Redis
  // queue keeps its jobs itself.)
  if (queue.kind === 'in-process') {
    const unfinished: Array<{ id: string; createdAt: string }> = [];
    for (const id of (await readdir(ws.jobsRoot)).filter((n) => /^[0-9a-f]{32}$/.test(n))) {
      const spec = await readSpec(ws.jobDir(id)).catch(() => undefined);
      const status = await readStatus(ws.jobDir(id)).catch(() => undefined);
      if (spec && !TERMINAL_STATES.includes(status?.state ?? 'queued')) unfinished.push({ id, createdAt: spec.createdAt });
    }
    unfinished.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const j of unfinished) await queue.enqueue(j.id);
  }
  return app;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await writeFile(to, await readFile(from));
  }
}

async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) await linkTree(join(from, e.name), join(to, e.name));
    else if (e.isFile() && !e.name.endsWith('.partial')) await linkOrCopy(join(from, e.name), join(to, e.name));
  }
}

export type { FastifyReply };
