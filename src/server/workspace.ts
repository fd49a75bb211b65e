/**
 * Where the service keeps things. Every path is built here from ids the service generated itself
 * (32 hex digits) and frame indices it parsed as integers, never from a name a client sent, so no
 * request can reach outside the data folder:
 *
 *   <data>/videos/<videoId>/video.json         what was uploaded (kind, size, frame count)
 *   <data>/videos/<videoId>/source.<ext>        the upload (ext from its magic bytes) or frames/
 *   <data>/videos/<videoId>/keyframes/<task>/<index>.<mode>.<ext>
 *   <data>/jobs/<jobId>/                        one workspace per job:
 *       spec.json  input (hard link of the source)  keyframes/  cache/  out/  status.json  cancel
 *
 * The data folder may be shared (NFS) between the server and `vprop worker` processes on other
 * machines: a job's workspace holds everything its run needs, so any worker can pick it up.
 */
import { randomBytes } from 'node:crypto';
import { join, resolve, sep } from 'node:path';
import { InputError } from '../core/errors.js';

const ID = /^[0-9a-f]{32}$/;

export function newId(): string {
  return randomBytes(16).toString('hex');
}

/** The id, or a 400-class error naming the parameter: only ids this service made are accepted. */
export function checkId(param: string, value: unknown): string {
  if (typeof value !== 'string' || !ID.test(value)) throw new InputError(param, 'is not an id of this service (32 hex digits)');
  return value;
}

/** A frame index: decimal digits only (no signs, dots or slashes), below `limit` when given. */
export function checkIndex(param: string, value: unknown, limit?: number): number {
  if (typeof value !== 'string' && typeof value !== 'number') throw new InputError(param, 'must be a frame number');
  const text = String(value);
  if (!/^\d{1,7}$/.test(text)) throw new InputError(param, `"${text.slice(0, 40)}" is not a frame number`);
  const n = Number(text);
  if (limit !== undefined && n >= limit) throw new InputError(param, `frame ${n} is outside the video (0..${limit - 1})`);
  return n;
}

export class Workspace {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }
  videoDir(videoId: string): string {
    return this.inside(join(this.root, 'videos', checkId('videoId', videoId)));
  }
  jobDir(jobId: string): string {
    return this.inside(join(this.root, 'jobs', checkId('jobId', jobId)));
  }
  get videosRoot(): string {
    return join(this.root, 'videos');
  }
  get jobsRoot(): string {
    return join(this.root, 'jobs');
  }
  get uploadsRoot(): string {
    return join(this.root, 'uploads');
  }
  /** Defence in depth: a path built here must stay under the data folder. */
  inside(path: string): string {
    const p = resolve(path);
    if (p !== this.root && !p.startsWith(this.root + sep)) throw new Error(`internal: ${p} is outside the data folder`);
    return p;
  }
}

/** Files of one job's workspace. */
export function jobPaths(dir: string) {
  return {
    dir,
    spec: join(dir, 'spec.json'),
    status: join(dir, 'status.json'),
    cancel: join(dir, 'cancel'),
    keyframes: join(dir, 'keyframes'),
    cache: join(dir, 'cache'),
    out: join(dir, 'out'),
  };
}
