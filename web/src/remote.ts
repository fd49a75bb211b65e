/**
 * The page's client of `vprop serve` (src/server/openapi.yaml): found by asking /api/health on
 * the page's own origin; absent when the page is served as static files, in which case
 * everything runs in the browser.
 */
import { zipSync } from 'fflate';

export interface ServerInfo {
  readonly version?: string;
  readonly queue: string;
  readonly limits: { readonly maxUploadBytes: number; readonly maxFrames: number };
}

export interface ServerEngine {
  readonly name: string;
  readonly description: string;
  readonly tasks: readonly string[];
  readonly needsKeyframes: boolean;
}

export class ServerClient {
  constructor(
    readonly info: ServerInfo,
    private readonly token: string | undefined,
  ) {}

  /** The server this page came from, or undefined (static hosting, no API). */
  static async detect(token: string | undefined): Promise<ServerClient | undefined> {
    try {
      const r = await fetch('api/health', { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (!r.ok || !(r.headers.get('content-type') ?? '').includes('json')) return undefined;
      const body = (await r.json()) as ServerInfo & { service?: string };
      return body.service === 'vprop' ? new ServerClient(body, token) : undefined;
    } catch {
      return undefined;
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `Bearer ${this.token}` } : extra;
  }

  /** A URL for links and EventSource, which cannot send headers. */
  url(path: string): string {
    return this.token ? `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(this.token)}` : path;
  }

  private async call<T>(method: string, path: string, body?: BodyInit, type?: string): Promise<T> {
    const r = await fetch(path, { method, body, headers: this.headers(type ? { 'content-type': type } : {}) });
    const text = await r.text();
    if (!r.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error: string }).error;
      } catch {}
      throw new Error(`server: ${message} (HTTP ${r.status})`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  engines(): Promise<ServerEngine[]> {
    return this.call('GET', 'api/engines');
  }

  /** Upload the video file, or the frames as one zip (stored: the images are compressed already). */
  async upload(files: File[], kind: 'video' | 'frames'): Promise<{ id: string; frameCount: number }> {
    if (kind === 'video') return this.call('POST', 'api/videos', files[0], files[0].type || 'application/octet-stream');
    const entries: Record<string, [Uint8Array, { level: 0 }]> = {};
    for (const [i, f] of files.entries()) {
      const ext = f.name.split('.').pop()?.toLowerCase() ?? 'png';
      entries[`${String(i).padStart(5, '0')}.${ext === 'jpeg' ? 'jpg' : ext}`] = [new Uint8Array(await f.arrayBuffer()), { level: 0 }];
    }
    const zip = zipSync(entries);
    return this.call('POST', 'api/videos', new Blob([zip as BlobPart]), 'application/zip');
  }

  putKeyframe(videoId: string, index: number, task: string, mode: string, png: Uint8Array): Promise<unknown> {
    return this.call('PUT', `api/videos/${videoId}/keyframes/${index}?task=${task}&mode=${mode}`, new Blob([png as BlobPart]), 'image/png');
  }

  deleteKeyframe(videoId: string, index: number, task: string): Promise<unknown> {
    return this.call('DELETE', `api/videos/${videoId}/keyframes/${index}?task=${task}`);
  }

  createJob(body: Record<string, unknown>): Promise<{ id: string }> {
    return this.call('POST', 'api/jobs', JSON.stringify(body), 'application/json');
  }

  job(id: string): Promise<{ status: { state: string; computedFrames?: number[]; objectIds?: number[]; error?: string } }> {
    return this.call('GET', `api/jobs/${id}`);
  }

  cancel(id: string): Promise<unknown> {
    return this.call('POST', `api/jobs/${id}/cancel`);
  }

  async frame(jobId: string, index: number): Promise<Uint8Array> {
    const r = await fetch(`api/jobs/${jobId}/frames/${index}`, { headers: this.headers() });
    if (!r.ok) throw new Error(`server: frame ${index} of job ${jobId}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }

  events(jobId: string): EventSource {
    return new EventSource(this.url(`api/jobs/${jobId}/events`));
  }
}
