/**
 * Checks that imports between the folders of src/ point down the layers of DESIGN.md, that the
 * browser entry (src/browser.ts) reaches no Node-only module, and that the web app (web/src) uses
 * the library only through that entry.
 *
 *   node --import tsx scripts/check-layers.ts [--json]
 *
 * Exit status 0 when clean, 1 with one line per violation. Every static `import … from`, `export …
 * from` and dynamic `import('…')` of a relative path counts (type-only imports too: a type from a
 * higher layer is a dependency on it all the same).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Layer of each top-level folder of src/ (a module may import its own folder or lower layers). */
export const LAYERS: Record<string, number> = {
  core: 0,
  util: 1,
  formats: 2,
  video: 3,
  ops: 4,
  metrics: 4,
  models: 4,
  synth: 4,
  tasks: 5,
  memory: 6,
  engines: 7,
  session: 8,
  server: 9,
  web: 9,
  // The command line launches the server (`vprop serve`, `vprop worker`), so it sits above it.
  cli: 10,
  '(entry)': 10,
};

/** Packages that only work in Node (or pull in Node built-ins). */
const NODE_ONLY_PACKAGES = ['sharp', 'onnxruntime-node', 'commander', 'cli-progress', 'tsx'];

export interface Violation {
  readonly file: string;
  readonly imports: string;
  readonly problem: string;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listTs(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Specifiers a module imports: static imports and re-exports, and dynamic import() of literals. */
export function importsOf(code: string): string[] {
  const out = new Set<string>();
  const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  for (const m of stripped.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]/g)) out.add(m[1]);
  for (const m of stripped.matchAll(/(?:^|[\s;])import\s*['"]([^'"]+)['"]/g)) out.add(m[1]);
  for (const m of stripped.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) out.add(m[1]);
  return [...out];
}

function folderOf(file: string): string {
  const rel = relative(src, file).split(/[\\/]/);
  return rel.length === 1 ? '(entry)' : rel[0];
}

function resolveTs(from: string, spec: string): string {
  return resolve(dirname(from), spec).replace(/\.js$/, '.ts');
}

export function checkLayers(): Violation[] {
  const violations: Violation[] = [];
  const files = listTs(src);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const folder = folderOf(file);
    const rank = LAYERS[folder];
    const rel = relative(root, file);
    if (rank === undefined) {
      violations.push({ file: rel, imports: '', problem: `folder src/${folder} has no layer (add it to LAYERS and DESIGN.md)` });
      continue;
    }
    const specs = importsOf(readFileSync(file, 'utf8'));
    graph.set(file, specs);
    for (const spec of specs) {
      if (!spec.startsWith('.')) continue;
      const target = resolveTs(file, spec);
      const tFolder = folderOf(target);
      const tRank = LAYERS[tFolder];
      if (tFolder === folder) continue;
      if (tRank === undefined || tRank > rank || (tRank === rank && tFolder !== folder)) {
        violations.push({
          file: rel,
          imports: spec,
          problem: `${folder} (layer ${rank}) imports ${tFolder} (layer ${tRank ?? '?'}): imports must point to lower layers`,
        });
      }
    }
  }
  // The browser entry's closure: no node:* and no Node-only package.
  const seen = new Set<string>();
  const stack: Array<{ file: string; via: string[] }> = [{ file: join(src, 'browser.ts'), via: [] }];
  while (stack.length > 0) {
    const { file, via } = stack.pop() as { file: string; via: string[] };
    if (seen.has(file)) continue;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    const specs = graph.get(file) ?? importsOf(code);
    const global = /\b(Buffer\.|process\.|__dirname|__filename|require\()/.exec(code.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''));
    if (global) {
      violations.push({
        file: relative(root, file),
        imports: global[1],
        problem: `reached from src/browser.ts (${[...via, relative(root, file)].join(' → ')}) but uses the Node global ${global[1]}`,
      });
    }
    for (const spec of specs) {
      if (spec.startsWith('.')) stack.push({ file: resolveTs(file, spec), via: [...via, relative(root, file)] });
      else if (spec.startsWith('node:') || NODE_ONLY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        violations.push({
          file: relative(root, file),
          imports: spec,
          problem: `reached from src/browser.ts (${[...via, relative(root, file)].join(' → ')}) but needs Node`,
        });
      }
    }
  }
  // The web app (web/, a surface bundled for browsers) reaches the library through its browser
  // entry only, and needs no Node module.
  const web = join(root, 'web', 'src');
  for (const file of existsSync(web) ? listTs(web) : []) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const rel = relative(root, file);
      if (spec.startsWith('.')) {
        const target = resolveTs(file, spec);
        if (!target.startsWith(web + sep) && target !== join(src, 'browser.ts'))
          violations.push({ file: rel, imports: spec, problem: 'web/ may import the library only through src/browser.ts' });
      } else if (spec.startsWith('node:') || NODE_ONLY_PACKAGES.some((p) => spec === p || spec.startsWith(`${p}/`))) {
        violations.push({ file: rel, imports: spec, problem: 'web/ runs in browsers but this needs Node' });
      }
    }
  }
  return violations;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const v = checkLayers();
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  else if (v.length === 0) process.stdout.write('layers: every import points down; the browser entry needs no Node module\n');
  else for (const x of v) process.stdout.write(`${x.file}: imports ${x.imports}: ${x.problem}\n`);
  process.exitCode = v.length === 0 ? 0 : 1;
}
