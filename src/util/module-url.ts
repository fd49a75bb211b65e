/**
 * URL of the module `name` next to the calling module, with the caller's own extension: `.ts` when
 * the library runs from its sources (tsx), `.js` when built. Worker pools load such modules by URL.
 */
export function siblingModuleUrl(importMetaUrl: string, name: string): string {
  const ext = /\.([cm]?[jt]s)$/.exec(new URL(importMetaUrl).pathname)?.[1] ?? 'js';
  return new URL(`./${name}.${ext}`, importMetaUrl).href;
}
