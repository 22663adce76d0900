/** `tune`: fills the kernel-tuning cache ahead of time for some models and batch sizes. */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { openModel, resolveModelPath, UsageError, MODEL_DEFAULT_HELP } from '../cli-common.js';
import { createNodeGpu } from '../../src/node.js';
import type { TuneReport, TunedGeometry } from '../../src/runtime/tuner.js';

export const tuneHelp = `Usage: webgpu-xai tune [--model M.onnx ...] [--batch 1,32] [--budget S] [--f16] [--force] [--json FILE]

Times the convolution and matmul kernel variants of every distinct layer geometry of the model on
this adapter, keeps the fastest (when it differs from the static choice, only if the whole forward
pass gets faster with it), and stores the choices in the tuning cache, so that later loads,
explanations and runs skip the timing (loads otherwise tune within a 5 s budget per new shape).

  --model PATH     ONNX model; repeat for several (default: ${MODEL_DEFAULT_HELP})
  --batch LIST     comma-separated batch sizes (default 1,32: a classify pass and the default
                   explanation batch)
  --budget S       seconds per model and batch (default 300); what is left untimed keeps the
                   static choice and is reported
  --f16            also time shader-f16 candidates (kept apart in the cache; a model uses them only
                   when loaded with tune: { f16: true })
  --force          time geometries again even when the cache has them
  --json FILE      also write the reports as JSON
  -h, --help       this text

The cache is $WEBGPU_XAI_CACHE_DIR/tuning.json (default ~/.cache/webgpu-xai/tuning.json), one
section per adapter and driver.`;

export async function tune(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string', multiple: true }, batch: { type: 'string' }, budget: { type: 'string' },
    f16: { type: 'boolean' }, force: { type: 'boolean' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(tuneHelp); return; }
  const batches = (values.batch ?? '1,32').split(',').map((s) => Number(s.trim()));
  if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new UsageError(`--batch needs positive integers, got '${values.batch}'`);
  const budget = Number(values.budget ?? 300);
  if (!(budget > 0)) throw new UsageError(`--budget must be a positive number of seconds, got '${values.budget}'`);
  const paths = (values.model?.length ? values.model : [undefined]).map((m) => resolveModelPath(m));
  const gpu = await createNodeGpu();
  const all: { model: string; batch: number; report: TuneReport }[] = [];
  try {
    console.log(`adapter: ${gpu.adapterName}\ncache: ${gpu.tuningStore?.where ?? 'memory only'}`);
    for (const path of paths) {
      // The model's own load-time tuning is off: this command does it, with its own budget.
      const { model } = await openModel(path, gpu, { warmup: false, tune: false });
      try {
        for (const batch of batches) {
          const report = await model.tune(batch, {
            budgetMs: budget * 1000, f16: values.f16 === true, force: values.force === true,
            onProgress: (p) => { if (process.stderr.isTTY) process.stderr.write(`\r  batch ${batch}: ${p.done}/${p.total} geometries`); },
          });
          if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
          all.push({ model: path, batch, report });
          console.log(`\n${path}, batch ${batch}:\n${tuneTable(report)}`);
        }
      } finally {
        model.destroy();
      }
    }
    if (values.json) writeFileSync(values.json, JSON.stringify(all, null, 1));
  } finally {
    gpu.destroy();
  }
}

const fmt = (ms: number) => (Number.isFinite(ms) ? (ms < 1 ? ms.toFixed(3) : ms.toPrecision(3)) : '');

/** The report as a table: every geometry with its static and chosen kernel, and a summary line. */
export function tuneTable(r: TuneReport): string {
  const rows = ['| layer geometry | nodes | static choice | ms | chosen | ms | speed-up | source |', '|---|---:|---|---:|---|---:|---:|---|'];
  for (const g of r.geometries) {
    const up = g.staticMs > 0 && g.ms > 0 ? `${(g.staticMs / g.ms).toFixed(2)}x` : '';
    rows.push(`| ${g.opType} ${g.key} | ${g.nodes.length} | ${g.staticChoice} | ${fmt(g.staticMs)} | ${g.choice} | ${fmt(g.ms)} | ${up} | ${g.source}${g.rejected.length ? `, ${g.rejected.length} rejected` : ''} |`);
  }
  return `${rows.join('\n')}\n${tuneSummary(r)}`;
}

/** One line: counts by source, tuning time, and the speed-up of the tuned layers weighted by use. */
export function tuneSummary(r: TuneReport): string {
  const measured = r.geometries.filter((g) => g.staticMs > 0 && g.ms > 0);
  const weigh = (f: (g: TunedGeometry) => number) => measured.reduce((s, g) => s + f(g) * g.nodes.length, 0);
  const speedup = measured.length ? weigh((g) => g.staticMs) / weigh((g) => g.ms) : NaN;
  const rejected = r.geometries.reduce((s, g) => s + g.rejected.length, 0);
  return `${r.geometries.length} geometries: ${r.timed} timed, ${r.fromCache} from the cache, ${r.unfinished} unfinished (budget ${(r.budgetMs / 1000).toFixed(0)} s)`
    + `; ${(r.ms / 1000).toFixed(1)} s (${r.timer}, ${r.precision})`
    + (Number.isFinite(speedup) ? `; tuned layers ${speedup.toFixed(2)}x the static choice's GPU time` : '')
    + (rejected ? `; ${rejected} candidates rejected` : '')
    + (r.wholePass && 'kept' in r.wholePass
      ? `; whole pass ${r.wholePass.staticMs.toFixed(1)} -> ${r.wholePass.tunedMs.toFixed(1)} ms, ${r.wholePass.kept ? 'tuned choices kept' : 'no faster: static choices kept'}`
      : r.wholePass ? `; whole pass not checked: ${r.wholePass.skipped}` : '')
    + (r.storeError ? `; ${r.storeError}` : '');
}
