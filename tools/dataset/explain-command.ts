/**
 * `explain --images DIR|LIST|GLOB`: the one-machine dataset run. Lists the images (paths only),
 * loads the model once, and explains image after image, writing each image's files and index rows
 * as they are done; running the same command again resumes. Exit code 1 when any image failed.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { OutputError, resolveModelPath, UsageError } from '../cli-common.js';
import { ProgressBar } from '../eval-stats.js';
import { listImages } from './sources.js';
import { checkRunSettings, FolderStore } from './store.js';
import { completedKeys, INDEX, resultKeys } from './run-index.js';
import { explainConfigFromArgs, explainItems, openExplainContext, type ExplainArgs } from './explain-run.js';

/** Some images or methods failed; the rest were written. Exit code 1, no stack trace. */
export class PartialFailure extends OutputError { override name = 'PartialFailure'; }

/** Checks an output folder argument: a folder or nothing yet. */
export function outputFolder(arg: string | undefined, fallback: string): string {
  const dir = resolve(arg ?? fallback);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--out ${arg ?? fallback} exists and is not a folder`);
  return dir;
}

export async function explainDataset(v: ExplainArgs & { images: string; image?: string[]; out?: string; model?: string }): Promise<void> {
  if (v.image !== undefined) throw new UsageError('give either --image (a few files) or --images (a folder, list file or glob), not both');
  const config = explainConfigFromArgs(v, resolveModelPath(v.model));
  const outDir = outputFolder(v.out, 'out');
  const items = listImages(v.images, [outDir]);
  const store = new FolderStore(outDir);
  const { methods: _m, ...rest } = config;
  const settings = { ...rest, modelPath: resolve(config.modelPath) };
  checkRunSettings(store, 'run.json', settings, false);
  const complete = completedKeys(store);
  const todo = items.reduce((n, it) => n + config.methods.filter((m) => !(complete.has(`${it.id}\0${m}`) && store.has(resultKeys(it.id, m).json))).length, 0);
  const units = items.length * config.methods.length;
  console.log(`${items.length} images × ${config.methods.length} method${config.methods.length > 1 ? 's' : ''} (${config.methods.join(', ')}) into ${outDir}: ${units - todo} already complete, ${todo} to do`);
  if (!todo) return;

  // The model and settings are checked before anything is written, so a refused run leaves no files.
  const ctx = await openExplainContext(config);
  const t0 = performance.now();
  try {
    try { mkdirSync(outDir, { recursive: true }); } catch (e) { throw new OutputError(`cannot create ${outDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
    checkRunSettings(store, 'run.json', settings);
    console.log(`adapter: ${ctx.gpu.adapterName}; model loaded in ${ctx.loadMs.toFixed(0)} ms; preprocessing: ${ctx.presetName}`);
    const bar = new ProgressBar(todo);
    let done = 0;
    const r = await explainItems(ctx, items, store, {
      complete,
      onUnit: (row) => bar.update(++done, `${row.image} ${row.method}${row.status === 'failed' ? ' FAILED' : ''}`),
    });
    bar.finish();
    const s = (performance.now() - t0) / 1000;
    console.log(`done: ${r.ok} complete, ${r.failed} failed, ${r.skipped} skipped as already complete; ${s.toFixed(1)} s, ${(r.ok / s).toFixed(2)} results/s; index: ${resolve(outDir, INDEX)}`);
    for (const f of r.failures.slice(0, 10)) console.log(`  failed: ${f.image} ${f.method}: ${f.error}`);
    if (r.failures.length > 10) console.log(`  ... and ${r.failures.length - 10} more (status "failed" in the index)`);
    if (r.failed) throw new PartialFailure(`${r.failed} of ${r.ok + r.failed} image × method results failed (listed in ${resolve(outDir, INDEX)}); run the same command again to retry them`);
  } finally {
    ctx.close();
  }
}
