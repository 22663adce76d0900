/**
 * Where a dataset run keeps its results: files named by key (a relative path such as
 * `sub/img.gradcam.png`) and an append-only index of JSON lines. The one-machine run and the queue
 * workers write through this interface, so an object store can stand in for the shared folder by
 * implementing it (a put per file group, an append or one object per row for the index).
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFilesAtomically } from './atomic-write.js';
import { UsageError } from '../cli-common.js';

/** A result file: key relative to the store, and its contents. */
export interface StoredFile { key: string; bytes: Uint8Array | string }

export interface ResultStore {
  /** Where the results live, for messages (a folder, a bucket URL). */
  readonly location: string;
  /** Stores the files as a group: all appear or none, and a failure keeps earlier versions. */
  writeGroup(files: readonly StoredFile[]): void;
  /** Appends lines to a JSON Lines log (`index.jsonl`, `evaluation-rows.jsonl`), each row as one write so a killed process leaves no half row. */
  append(log: string, rows: readonly object[]): void;
  /** Every well-formed row of a log, in order ([] when it does not exist yet); a line cut short by a crash is skipped. */
  read<T>(log: string): T[];
  /**
   * Rows appended since `cursor` (0: from the start) and the cursor to pass next time; lets a worker
   * follow the log cheaply. `reset` when the log was replaced or shortened: the rows are then all of it.
   */
  readSince<T>(log: string, cursor: number): { rows: T[]; cursor: number; reset?: boolean };
  /** Whether a file exists. */
  has(key: string): boolean;
  /** A small file's text, or undefined when it does not exist. */
  readText(key: string): string | undefined;
}

/**
 * Records the settings of a run in `key` on its first start and refuses to resume one started with
 * other settings, whose results would otherwise be mixed with these (UsageError naming both).
 * `record: false` only checks (before the model is loaded, so a refused model leaves no file).
 */
export function checkRunSettings(store: ResultStore, key: string, settings: Record<string, unknown>, record = true): void {
  const text = JSON.stringify(settings, null, 2) + '\n';
  const earlier = store.readText(key);
  if (earlier === undefined) { if (record) store.writeGroup([{ key, bytes: text }]); return; }
  if (earlier !== text) {
    throw new UsageError(`${join(store.location, key)} records a run with other settings:\n${earlier}this run:\n${text}use another --out folder, or delete that folder's results to start over`);
  }
}

/** A folder on a local or shared file system (NFS and the like, where rename within a folder is atomic). */
export class FolderStore implements ResultStore {
  readonly location: string;
  constructor(dir: string) { this.location = resolve(dir); }
  writeGroup(files: readonly StoredFile[]): void {
    writeFilesAtomically(files.map((f) => ({ path: join(this.location, f.key), bytes: f.bytes })));
  }
  append(log: string, rows: readonly object[]): void {
    if (!rows.length) return;
    // One write of whole lines with O_APPEND: concurrent workers' rows interleave by line, never inside one.
    mkdirSync(this.location, { recursive: true });
    const p = join(this.location, log);
    // A line a killed writer left without its newline would swallow this row: start a fresh line.
    const lead = endsMidLine(p) ? '\n' : '';
    appendFileSync(p, lead + rows.map((r) => JSON.stringify(r) + '\n').join(''));
  }
  read<T>(log: string): T[] {
    const p = join(this.location, log);
    if (!existsSync(p)) return [];
    const out: T[] = [];
    for (const line of readFileSync(p, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try { out.push(JSON.parse(line) as T); } catch { /* a row cut short by a crash: the image is redone */ }
    }
    return out;
  }
  readSince<T>(log: string, cursor: number): { rows: T[]; cursor: number; reset?: boolean } {
    const p = join(this.location, log);
    let fd: number;
    try { fd = openSync(p, 'r'); } catch { return { rows: [], cursor: 0, reset: cursor > 0 }; }
    try {
      const size = fstatSync(fd).size;
      const reset = size < cursor;
      if (reset) cursor = 0;
      if (size === cursor) return { rows: [], cursor, reset };
      const buf = Buffer.alloc(size - cursor);
      readSync(fd, buf, 0, buf.length, cursor);
      // Only whole lines: a row still being written is read next time.
      const end = buf.lastIndexOf(0x0a) + 1;
      const rows: T[] = [];
      for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try { rows.push(JSON.parse(line) as T); } catch { /* cut short by a crash */ }
      }
      return { rows, cursor: cursor + end, reset };
    } finally { closeSync(fd); }
  }
  has(key: string): boolean { return existsSync(join(this.location, key)); }
  readText(key: string): string | undefined {
    const p = join(this.location, key);
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  }
}

function endsMidLine(path: string): boolean {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return false; }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size - 1);
    return b[0] !== 0x0a;
  } finally { closeSync(fd); }
}
