/**
 * Runs ONNX conformance cases (Debian package libonnx-testdata): model.onnx with
 * test_data_set_N/input_*.pb and output_*.pb. Integer inputs are bound as load-time constants,
 * since the GPU computes in float32 and integer tensors are shape arithmetic.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onnx } from '../../tools/onnx-pb/onnx.js';
import { tensorFromProto, decodeOnnx } from '../../src/runtime/onnx.js';
import { Model } from '../../src/runtime/model.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import { testGpu } from './gpu.js';
import { defaultRegistry } from '../../src/kernels/all.js';

export const TESTDATA = '/usr/share/libonnx-testdata/data';
export const hasTestdata = existsSync(join(TESTDATA, 'node'));

/** Case directories whose name starts with one of `prefixes` (e.g. 'node/test_conv', 'pytorch-converted/test_Conv2d'). */
export function conformanceCases(prefixes: readonly string[]): string[] {
  if (!hasTestdata) return [];
  const out: string[] = [];
  for (const p of prefixes) {
    const slash = p.lastIndexOf('/');
    const dir = join(TESTDATA, p.slice(0, slash));
    const stem = p.slice(slash + 1);
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir).sort()) if (d.startsWith(stem) && existsSync(join(dir, d, 'model.onnx'))) out.push(join(dir, d));
  }
  return [...new Set(out)];
}

function readPb(path: string): HostTensor {
  return tensorFromProto(onnx.TensorProto.decode(readFileSync(path)));
}

function dataSets(dir: string): string[] {
  return readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort().map((d) => join(dir, d));
}

const INT_TYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64', 'bool']);

/** Runs every data set of a case; throws with a precise message on any mismatch. */
export async function runConformanceCase(dir: string, tol = { rtol: 1e-3, atol: 1e-5 }): Promise<void> {
  const gpu = await testGpu();
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  const graph = decodeOnnx(bytes);
  for (const set of dataSets(dir)) {
    const inputs = graph.inputs.map((_, i) => join(set, `input_${i}.pb`)).filter((p) => existsSync(p)).map(readPb);
    // Inputs an op reads at load time (shapes, axes, Pad's constant_value, Resize's scales) are
    // initializers in real models; the conformance data feeds some as graph inputs.
    const hostRead = new Set<string>();
    for (const n of graph.nodes) for (const k of defaultRegistry.find(n)?.hostInputs?.(n) ?? []) if (n.inputs[k]) hostRead.add(n.inputs[k]!);
    const constantInputs: Record<string, HostTensor> = {};
    const feeds: Record<string, HostTensor> = {};
    graph.inputs.forEach((info, i) => {
      const t = inputs[i];
      if (!t) return;
      if (INT_TYPES.has(t.dtype) || hostRead.has(info.name)) constantInputs[info.name] = t;
      else feeds[info.name] = { dtype: 'float32', shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) };
    });
    const model = await Model.load(bytes, { gpu, constantInputs, warmup: false });
    try {
      const { outputs } = await model.run(feeds);
      graph.outputs.forEach((o, i) => {
        const want = readPb(join(set, `output_${i}.pb`));
        const got = outputs[o.name];
        if (!got) throw new Error(`output '${o.name}' missing`);
        if (got.shape.join(',') !== want.shape.join(',')) throw new Error(`output '${o.name}' shape [${got.shape}] != expected [${want.shape}]`);
        for (let k = 0; k < want.data.length; k++) {
          const a = got.data[k]!, b = want.data[k]!;
          const ok = Number.isNaN(b) ? Number.isNaN(a) : Math.abs(a - b) <= tol.atol + tol.rtol * Math.abs(b) || a === b;
          if (!ok) throw new Error(`output '${o.name}'[${k}] = ${a}, expected ${b} (${set})`);
        }
      });
    } finally {
      model.destroy();
    }
  }
}
