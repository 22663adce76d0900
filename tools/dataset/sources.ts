/**
 * Which images a dataset run covers: a folder (walked recursively), a list file (one path a line,
 * relative to the list's folder; blank lines and '#' comments skipped) or a glob (`*`, `?`, `**`,
 * `[...]`). Only paths are listed; each image is decoded when its turn comes, so memory does not
 * grow with the dataset.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { UsageError } from '../cli-common.js';

/** One image of a run: its file and the id its results are named by (relative path, no extension, '/' separated). */
export interface DatasetItem { id: string; path: string }

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const GLOB_CHARS = /[*?[]/;

function walk(dir: string, out: string[], skip: ReadonlySet<string>, seen = new Set<string>()): void {
  // A symlinked folder is followed once (its real path), so a link cycle cannot loop.
  const real = realpathSync(dir);
  if (seen.has(real) || skip.has(real)) return;
  seen.add(real);
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    const st = e.isSymbolicLink() ? statOrNull(p) : e;
    if (!st) continue;
    if (st.isDirectory()) walk(p, out, skip, seen);
    else if (st.isFile() && IMAGE_EXT.test(e.name)) out.push(p);
  }
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // '**/' matches any number of folders, including none.
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) { re += '\\['; continue; }
      re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += /[.+^${}()|\\]/.test(c) ? `\\${c}` : c;
  }
  return new RegExp(`^${re}$`);
}

function idOf(path: string, base: string): string {
  const rel = relative(base, path);
  const r = rel.startsWith('..') || isAbsolute(rel) ? basename(path) : rel;
  return r.slice(0, r.length - extname(r).length).split(sep).join('/');
}

/**
 * Lists the images of `spec` (folder, list file or glob) in a stable order; UsageError when none or
 * two share an id. Folders in `exclude` (the run's output folder, when it lies inside the dataset)
 * are not walked, so results are never taken for inputs.
 */
export function listImages(spec: string, exclude: readonly string[] = []): DatasetItem[] {
  const skip = new Set(exclude.map((d) => { try { return realpathSync(d); } catch { return resolve(d); } }));
  let paths: string[];
  let base: string;
  if (GLOB_CHARS.test(spec) && !statOrNull(spec)) {
    const abs = resolve(spec).split(sep).join('/');
    const parts = abs.split('/');
    const firstGlob = parts.findIndex((s) => GLOB_CHARS.test(s));
    base = parts.slice(0, firstGlob).join('/') || '/';
    const all: string[] = [];
    if (statOrNull(base)?.isDirectory()) walk(base, all, skip);
    const re = globToRegExp(abs);
    paths = all.filter((p) => re.test(p.split(sep).join('/')));
  } else {
    const st = statOrNull(spec);
    if (!st) throw new UsageError(`--images ${spec}: no such folder, list file or matching glob`);
    if (st.isDirectory()) {
      base = resolve(spec);
      paths = [];
      walk(base, paths, skip);
    } else {
      base = dirname(resolve(spec));
      paths = readFileSync(spec, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => resolve(base, l));
    }
  }
  if (!paths.length) throw new UsageError(`--images ${spec} lists no PNG or JPEG images`);
  const items = paths.map((path) => ({ id: idOf(path, base), path }));
  const seen = new Map<string, string>();
  for (const it of items) {
    const other = seen.get(it.id);
    if (other !== undefined) throw new UsageError(`${other} and ${it.path} would write the same result files ('${it.id}'): rename one`);
    seen.set(it.id, it.path);
  }
  return items;
}

function statOrNull(p: string): ReturnType<typeof statSync> | undefined {
  try { return statSync(p); } catch { return undefined; }
}
