/**
 * `evaluate` that survives interruption: each image's rows (every method plus the prior maps) are
 * appended to `evaluation-rows.jsonl` in one write as soon as they exist, and a run over the same
 * folder skips the images that already have them. Images are decoded one at a time. The queue's
 * chunk jobs run the same function on their slice, so the merged tables equal the one-machine ones.
 */
import { join, resolve } from 'node:path';
import { readImage } from '../../src/image-io.js';
import { ProgressBar } from '../eval-stats.js';
import type { Model } from '../../src/runtime/model.js';
import type { Preprocessing } from '../../src/xai/preprocess.js';
import { evaluateImages, type Annotation, type EvalRow, type EvaluateOptions } from '../commands/evaluate.js';
import { checkRunSettings, type ResultStore } from './store.js';
import { DeviceLostError } from './explain-run.js';

export const EVAL_ROWS = 'evaluation-rows.jsonl';

/** A line of the rows log: an image's metric row for one method, or the image's failure. */
export type StoredEvalRow = (EvalRow & { status: 'ok'; index: number; adapter: string }) | { status: 'failed'; file: string; index: number; error: string; adapter: string };

/** The annotations of the images with their place in the dataset. */
export interface IndexedAnnotation { a: Annotation; index: number }

/** Rows of complete images (every method of `allMethods`) in dataset order, and the images whose last row says failed. */
export function collectRows(stored: readonly StoredEvalRow[], allMethods: readonly string[], wanted?: ReadonlySet<number>): { rows: EvalRow[]; done: Set<number>; failed: Map<number, { file: string; error: string }> } {
  const byImage = new Map<number, Map<string, EvalRow>>();
  const failed = new Map<number, { file: string; error: string }>();
  for (const r of stored) {
    if (wanted && !wanted.has(r.index)) continue;
    if (r.status === 'failed') { failed.set(r.index, { file: r.file, error: r.error }); continue; }
    if (r.status !== 'ok') continue;
    failed.delete(r.index);
    const m = byImage.get(r.index) ?? new Map<string, EvalRow>();
    const { status: _s, index: _i, adapter: _a, ...row } = r;
    m.set(r.method, row);
    byImage.set(r.index, m);
  }
  const done = new Set<number>();
  const rows: EvalRow[] = [];
  for (const index of [...byImage.keys()].sort((x, y) => x - y)) {
    const m = byImage.get(index)!;
    if (!allMethods.every((k) => m.has(k))) continue;
    done.add(index);
    failed.delete(index);
    for (const k of allMethods) rows.push(m.get(k)!);
  }
  return { rows, done, failed };
}

/**
 * Evaluates the images of `items` that have no complete rows in `store` yet, appending each
 * image's rows as it finishes; an unreadable image gets a 'failed' row and the run goes on.
 * `recordFailures: false` (a queue job before its last attempt) leaves failures out of the log.
 */
export async function evaluateItems(model: Model, dir: string, items: readonly IndexedAnnotation[], p: Preprocessing, o: EvaluateOptions, store: ResultStore, adapter: string,
  opt: { recordFailures?: boolean; progress?: boolean; deviceLost?: () => Error | undefined } = {}): Promise<{ evaluated: number; failed: { file: string; error: string }[] }> {
  const allMethods = [...o.methods, 'center', 'random'];
  const { done } = collectRows(store.read<StoredEvalRow>(EVAL_ROWS), allMethods);
  const todo = items.filter((it) => !done.has(it.index));
  const bar = opt.progress ? new ProgressBar(Math.max(1, todo.length * o.methods.length)) : undefined;
  let units = 0, evaluated = 0;
  const failed: { file: string; error: string }[] = [];
  for (const { a, index } of todo) {
    try {
      const img = readImage(join(dir, a.file));
      const r = await evaluateImages(model, [{ a, img, index }], p, { ...o, onProgress: (_d, label) => bar?.update(++units, label) });
      store.append(EVAL_ROWS, r.rows.map((row) => ({ status: 'ok', index, adapter, ...row })));
      evaluated++;
    } catch (e) {
      if ((e as Error).name === 'OutputError') throw e;
      // The device's loss is reported asynchronously; an error can arrive first.
      if (opt.deviceLost && !opt.deviceLost()) await new Promise((r) => setTimeout(r, 50));
      const lost = opt.deviceLost?.();
      if (lost) throw new DeviceLostError(`the GPU device was lost (${lost.message}) while evaluating ${a.file}; this process stops so the work can go to a healthy device`);
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      failed.push({ file: a.file, error });
      if (opt.recordFailures ?? true) store.append(EVAL_ROWS, [{ status: 'failed', file: a.file, index, adapter, error }]);
      units += o.methods.length;
      bar?.update(units, `${a.file} FAILED`);
    }
  }
  bar?.finish();
  return { evaluated, failed };
}

/** What must match for two runs' rows to be merged (the queue records the same). */
export function evaluationSettings(modelFile: string, dir: string, preprocessArgs: Readonly<Record<string, string | undefined>>, o: Pick<EvaluateOptions, 'methods' | 'step' | 'batch' | 'mu'>): Record<string, unknown> {
  const pre = Object.fromEntries(Object.entries(preprocessArgs).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { model: modelFile, dir: resolve(dir), preprocessing: pre, methods: o.methods, step: o.step, batch: o.batch, mu: o.mu };
}

/** The one-machine resumable evaluate: runs what is missing, then returns every complete row in dataset order. */
export async function evaluateResumable(model: Model, settings: Record<string, unknown>, dir: string, anns: readonly Annotation[], p: Preprocessing, o: EvaluateOptions, store: ResultStore, adapter: string):
  Promise<{ methods: string[]; rows: EvalRow[]; failed: { file: string; error: string }[] }> {
  const allMethods = [...o.methods, 'center', 'random'];
  const items = anns.map((a, index) => ({ a, index }));
  checkRunSettings(store, 'evaluation-run.json', settings);
  const before = collectRows(store.read<StoredEvalRow>(EVAL_ROWS), allMethods).done.size;
  if (before) console.error(`${before} of ${anns.length} images already evaluated in ${store.location}; evaluating the rest`);
  await evaluateItems(model, dir, items, p, o, store, adapter, { progress: true });
  const { rows, failed } = collectRows(store.read<StoredEvalRow>(EVAL_ROWS), allMethods, new Set(items.map((i) => i.index)));
  return { methods: allMethods, rows, failed: [...failed.values()] };
}
