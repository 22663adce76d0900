/** `layers`: what a model looks like to the explainers: inputs, outputs, SISE's blocks, op counts, FLOPs. */
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { guessPreset } from '../../src/xai/preprocess.js';
import { detectBlocks } from '../../src/xai/blocks.js';
import type { Model } from '../../src/runtime/model.js';
import type { SpecNode } from '../../src/runtime/specialize.js';
import { openModel, resolveModelPath, MODEL_DEFAULT_HELP } from '../cli-common.js';

export const layersHelp = `Usage: webgpu-xai layers [--model M.onnx]

Shows a model's inputs and outputs, the preprocessing preset guessed for it, the layers SISE
probes (block outputs), operator counts by type and the FLOPs of one image.

  --model PATH     ONNX classifier (default: ${MODEL_DEFAULT_HELP})
  -h, --help       this text`;

const shapeStr = (s: readonly (number | string)[]) => `[${s.join(', ')}]`;
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Multiply-adds of one node of the specialised graph (Conv, ConvTranspose, Gemm, MatMul; 0 for the rest). */
export function multiplyAdds(s: SpecNode): number {
  const out = s.outShapes[0];
  const a = s.inputs[0]?.shape, w = s.inputs[1]?.shape;
  if (!out || !a || !w) return 0;
  switch (s.node.opType) {
    case 'Conv': return prod(out) * prod(w.slice(1)); // W [M, C/group, kH, kW]: each output sums C/group·kH·kW products
    case 'ConvTranspose': return prod(a) * prod(w.slice(1)); // W [C, M/group, kH, kW]: each input scatters to M/group·kH·kW outputs
    case 'Gemm': return prod(out) * (s.node.attrs.transA ? a[0]! : a[1]!);
    case 'MatMul': return prod(out) * a[a.length - 1]!;
    default: return 0;
  }
}

export function modelFlops(model: Model): number {
  const g = model.specialize(model.inputShapes(1), new Set(), false);
  return 2 * g.nodes.reduce((sum, s) => sum + multiplyAdds(s), 0);
}

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(3)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return `${n} `;
}

export async function layers(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) { console.log(layersHelp); return; }
  const modelPath = resolveModelPath(values.model);
  const { model, gpu } = await openModel(modelPath, undefined, { warmup: false });
  try {
    const shapes = model.tensorShapes(1);
    console.log(`model: ${basename(modelPath)} (opset ${model.graph.opset}, ${model.graph.nodes.length} nodes, ${model.graph.initializers.size} initializers)`);
    console.log('\ninputs:');
    for (const i of model.inputs) console.log(`  ${i.name}  ${i.dtype}  ${shapeStr(i.shape)}`);
    console.log('outputs:');
    for (const o of model.outputs) console.log(`  ${o.name}  ${o.dtype}  ${shapeStr(o.shape)}${shapes.has(o.name) ? `  (batch 1: ${shapeStr(shapes.get(o.name)!)})` : ''}`);
    const input = model.inputs[0]!;
    console.log(`\npreprocessing preset (guessed): ${guessPreset(input.name, input.shape)}`);

    console.log('\nSISE blocks (detected block outputs, shallow to deep):');
    try {
      const blocks = detectBlocks(model);
      const w = Math.max(...blocks.map((b) => b.name.length));
      for (const b of blocks) console.log(`  ${b.name.padEnd(w)}  ${shapeStr(b.shape).padEnd(20)}  ${b.shape[1]} channels`);
      console.log(`  total: ${blocks.length} layers, ${blocks.reduce((a, b) => a + b.shape[1]!, 0)} channels`);
    } catch (e) {
      console.log(`  none: ${(e as Error).message}`);
    }

    const counts = new Map<string, number>();
    for (const n of model.graph.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
    console.log(`\noperators (${model.graph.nodes.length} nodes):`);
    const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const w = Math.max(...sorted.map(([t]) => t.length));
    for (const [t, n] of sorted) console.log(`  ${t.padEnd(w)}  ${String(n).padStart(4)}`);

    const flops = modelFlops(model);
    console.log(`\nFLOPs per image: ${human(flops)}FLOP (${flops.toLocaleString('en-US')}; 2 × multiply-adds of Conv, ConvTranspose, Gemm, MatMul at batch 1)`);
  } finally {
    model.destroy();
    gpu.destroy();
  }
}
