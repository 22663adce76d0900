/** `profile`: GPU time per kernel for one forward pass, as a table and a Chrome trace. */
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { openModel, resolveModelPath, UsageError } from '../cli-common.js';
import { profileTable, chromeTrace } from '../../src/runtime/profiler.js';
import { sizeOf } from '../../src/runtime/tensor.js';

export const profileHelp = `Usage: webgpu-xai profile [--model M.onnx] [--batch N] [--trace FILE]

Measures GPU time per kernel of one forward pass (timestamp queries where the adapter has them,
else host timing of each dispatch alone) and prints time per op type.

  --model PATH     ONNX classifier (default: ../shared/models/squeezenet1.1-fp32.onnx)
  --batch N        batch size (default 1)
  --runs N         profiled runs; the table shows the last (default 3)
  --trace FILE     also write a Chrome trace (chrome://tracing, Perfetto)
  -h, --help       this text`;

export async function profile(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    model: { type: 'string' }, batch: { type: 'string' }, runs: { type: 'string' }, trace: { type: 'string' }, help: { type: 'boolean', short: 'h' },
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
    console.log(`adapter: ${gpu.adapterName} (${p!.method}); load ${loadMs.toFixed(0)} ms; batch ${batch}\n`);
    console.log(profileTable(p!));
    if (values.trace) {
      writeFileSync(values.trace, chromeTrace(p!));
      console.log(`\ntrace written to ${values.trace}`);
    }
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
