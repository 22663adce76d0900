/**
 * The index of a dataset run (`index.jsonl` in the output folder): one JSON line per image and
 * method each time one is finished or given up on. The last row of an image and method is its
 * state; a row with status 'ok' is written only after the result files are in place, so an 'ok'
 * row always means complete results.
 */
import type { ResultStore } from './store.js';

export const INDEX = 'index.jsonl';

/** One line of the index. */
export interface IndexRow {
  /** The image's id: path relative to the dataset root, without extension. */
  image: string;
  /** The image file as given. */
  path: string;
  method: string;
  status: 'ok' | 'failed';
  /** Class explained, its score and the passes it took (null when failed). */
  class: number | null;
  score: number | null;
  passes: { forward: number; backward: number } | null;
  /** Time per phase and in total, milliseconds. */
  timingsMs: Record<string, number> | null;
  error: string | null;
  /** Result files, relative to the output folder. */
  files: string[];
  /** Queue worker id, or null for a one-machine run. */
  worker: string | null;
  model: string;
  /** ISO time the row was written. */
  at: string;
}

/** Files of one image and method, relative to the output folder. */
export function resultKeys(id: string, method: string): { png: string; npy: string; json: string } {
  const stem = `${id}.${method}`;
  return { png: `${stem}.png`, npy: `${stem}.npy`, json: `${stem}.json` };
}

/** The last row of every image and method. */
export function latestRows(rows: readonly IndexRow[]): Map<string, IndexRow> {
  const m = new Map<string, IndexRow>();
  for (const r of rows) if (r && typeof r.image === 'string' && typeof r.method === 'string') m.set(`${r.image}\0${r.method}`, r);
  return m;
}

/** Keys (`image \0 method`) whose results are complete according to the index. */
export function completedKeys(store: ResultStore): Set<string> {
  const s = new Set<string>();
  for (const [k, r] of latestRows(store.read<IndexRow>(INDEX))) if (r.status === 'ok') s.add(k);
  return s;
}

/**
 * The complete keys of an index that other processes are appending to, brought up to date on each
 * call by reading only what was appended since. A queue worker asks before every image, so an
 * image finished by another worker (a job taken up again after its lock lapsed) is not redone.
 */
export class IndexFollower {
  private cursor = 0;
  private readonly complete = new Set<string>();
  constructor(private readonly store: ResultStore) {}
  /** Whether the index now says the image and method are complete. */
  isComplete(image: string, method: string): boolean {
    const { rows, cursor, reset } = this.store.readSince<IndexRow>(INDEX, this.cursor);
    this.cursor = cursor;
    if (reset) this.complete.clear();
    for (const r of rows) {
      if (!r || typeof r.image !== 'string') continue;
      const k = `${r.image}\0${r.method}`;
      if (r.status === 'ok') this.complete.add(k); else this.complete.delete(k);
    }
    return this.complete.has(`${image}\0${method}`);
  }
}
