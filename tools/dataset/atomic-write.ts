/**
 * Writing a group of files so that either all of them appear or none does, and a failure leaves
 * every file that was there before exactly as it was (issue 17: an earlier `base.gradcam.png` was
 * deleted by the old rollback when a later rename in the group failed).
 */
import { lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OutputError } from '../cli-common.js';

/** One file of a group: its final path and contents. */
export interface FileToWrite { path: string; bytes: Uint8Array | string }

function kindOf(path: string): 'file' | 'dir' | 'other' | 'none' {
  try {
    const s = lstatSync(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : 'other';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
    throw e;
  }
}

/**
 * Writes every file to a temporary name beside it, then moves any existing file aside, renames the
 * new ones into place and only then deletes the old versions. On any failure the new files and
 * temporaries are removed, the old versions are moved back, and folders this call created are
 * removed. A path that is a folder (or anything but a plain file) is refused before anything moves.
 * Throws OutputError naming the path and the system error.
 */
export function writeFilesAtomically(files: readonly FileToWrite[]): void {
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new OutputError(`cannot write ${f.path}: named twice in one group`);
    seen.add(f.path);
  }
  const createdDirs: string[] = [];
  const temps: string[] = [];
  const moved: { path: string; backup: string }[] = [];
  const placed: string[] = [];
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  let current = '';
  try {
    for (const f of files) {
      current = f.path;
      const made = mkdirSync(dirname(f.path), { recursive: true });
      if (made) createdDirs.push(made);
      const k = kindOf(f.path);
      if (k === 'dir' || k === 'other') throw Object.assign(new Error(`${f.path} exists and is not a file`), { code: k === 'dir' ? 'EISDIR' : 'EEXIST' });
    }
    for (const f of files) {
      current = f.path;
      const tmp = `${f.path}.tmp-${tag}`;
      temps.push(tmp);
      writeFileSync(tmp, f.bytes);
    }
    files.forEach((f, i) => {
      current = f.path;
      if (kindOf(f.path) === 'file') {
        const backup = `${f.path}.old-${tag}`;
        renameSync(f.path, backup);
        moved.push({ path: f.path, backup });
      }
      renameSync(temps[i]!, f.path);
      placed.push(f.path);
    });
  } catch (e) {
    for (const p of placed) rmSync(p, { force: true });
    for (const { path, backup } of moved) { try { renameSync(backup, path); } catch { /* leaves the .old file for the user */ } }
    for (const t of temps) rmSync(t, { force: true });
    for (const d of createdDirs.reverse()) rmSync(d, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException;
    throw new OutputError(`cannot write ${current}: ${err.code ?? err.message}`);
  }
  for (const { backup } of moved) rmSync(backup, { force: true });
}
