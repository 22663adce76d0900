/** `profile`: GPU time per kernel for one forward pass, as a table and a Chrome trace; optionally the WGSL each dispatch runs. */
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openModel, resolveModelPath, UsageError, MODEL_DEFAULT_HELP } from '../cli-common.js';
import { profileTable, chromeTrace } from '../../src/runtime/profiler.js';
import { sizeOf } from '../../src/runtime/tensor.js';
import type { KernelSource } from '../../src/runtime/model.js';

export const profileHelp = `Usage: webgpu-xai profile [--model M.onnx] [--batch N] [--trace FILE] [--wgsl DIR]

Measures GPU time per kernel of one forward pass (timestamp queries where the adapter has them,
else host timing of each dispatch alone) and prints time per op type.

  --model PATH     ONNX classifier (default: ${MODEL_DEFAULT_HELP})
  --batch N        batch size (default 1)
  --runs N         profiled runs; the table shows the last (default 3)
  --trace FILE     also write a Chrome trace (chrome://tracing, Perfetto)
  --wgsl DIR       also write the final WGSL of every kernel variant the pass runs
                   (NN-label.wgsl, one per distinct source) and kernels.tsv: each dispatch
                   in order with its node, op type, workgroups and file
  -h, --help       this text`;

export async function profile(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' }, trace: { type: 'string' }, wgsl: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(profileHelp); return; }
  const batch = Number(values.batch ?? 1), runs = Number(values.runs ?? 3);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch must be a positive integer, got '${values.batch}'`);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got '${values.runs}'`);
  const { model, gpu, loadMs } = await openModel(resolveModelPath(values.model));
  try {
    const feeds: Record<string, { dtype: 'float32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, shape] of model.inputShapes(batch)) {
      feeds[name] = { dtype: 'float32', shape, data: Float32Array.from({ length: sizeOf(shape) }, (_, i) => Math.sin(i * 0.37)) };
    }
    let p;
    for (let r = 0; r < runs; r++) p = (await model.run(feeds, { profile: true })).profile;
    // A batch over the device's limits runs as chunks; the profile then covers one chunk.
    const chunk = model.plan(model.inputShapes(batch)).chunk;
    const split = chunk < batch ? ` (split into chunks of ${chunk}; the table is one chunk)` : '';
    console.log(`adapter: ${gpu.adapterName} (${p!.method}); load ${loadMs.toFixed(0)} ms; batch ${batch}${split}\n`);
    console.log(profileTable(p!));
    if (values.trace) {
      writeFileSync(values.trace, chromeTrace(p!));
      console.log(`\ntrace written to ${values.trace}`);
    }
    if (values.wgsl) {
      const n = writeKernelSources(values.wgsl, model.kernelSources(batch));
      console.log(`\n${n.files} WGSL sources for ${n.dispatches} dispatches written to ${values.wgsl}`);
    }
  } finally {
    model.destroy();
    gpu.destroy();
  }
}

/** One file per distinct (source, entry point), named after the first dispatch that runs it, plus an index. */
export function writeKernelSources(dir: string, kernels: readonly KernelSource[]): { files: number; dispatches: number } {
  mkdirSync(dir, { recursive: true });
  const fileOf = new Map<string, string>();
  const rows = ['#\tnode\top\tlabel\tworkgroups\tentry\tfile'];
  kernels.forEach((k, i) => {
    const key = `${k.entryPoint}\u0000${k.wgsl}`;
    let file = fileOf.get(key);
    if (!file) {
      file = `${String(fileOf.size).padStart(2, '0')}-${k.label.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60)}.wgsl`;
      fileOf.set(key, file);
      writeFileSync(join(dir, file), `// ${k.label} (entry point ${k.entryPoint}); first used by node ${k.node} (${k.opType})\n${k.wgsl.trimStart()}`);
    }
    rows.push([i, k.node, k.opType, k.label, k.workgroups.join('x'), k.entryPoint, file].join('\t'));
  });
  writeFileSync(join(dir, 'kernels.tsv'), rows.join('\n') + '\n');
  return { files: fileOf.size, dispatches: kernels.length };
}
