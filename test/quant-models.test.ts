/**
 * QOperator int8 models (onnxruntime's quantiser, committed in test/fixtures/quant; regenerate with
 * tools/quant-fixtures.ts) against onnxruntime-node running its integer kernels on the same inputs:
 * real photos and a seeded random image.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../src/runtime/model.js';
import { preprocessImage, PRESETS, type Preprocessing } from '../src/xai/preprocess.js';
import { decodeOnnx } from '../src/runtime/onnx.js';
import { readImage } from '../src/image-io.js';
import { QUANT_INPUT } from '../tools/quant-models.js';
import { buildResNet50 } from '../tools/model-zoo.js';
import { calibrateWithOrt, quantizeQOperator } from '../tools/qoperator-quantize.js';
import { GraphBuilder, randNormal, Rng } from '../tools/onnx-writer.js';
import { UnsupportedOperatorError } from '../src/runtime/errors.js';
import { compareLogits, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

const FIXTURES = join(__dirname, 'fixtures', 'quant');
const IMAGENET = join(__dirname, '..', '..', 'shared', 'images', 'imagenet-val');
const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();
const preset: Preprocessing = { ...PRESETS.imagenet, size: QUANT_INPUT, resize: Math.round(QUANT_INPUT / 0.875) };

/** Three photos (when ../shared is there) and one seeded N(0, 1) image, as a batch. */
function inputs(): { data: Float32Array; dims: number[] } {
  const n = 3 * QUANT_INPUT * QUANT_INPUT;
  const parts: Float32Array[] = [];
  if (existsSync(IMAGENET)) for (const f of ['ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000002.JPEG', 'ILSVRC2012_val_00000003.JPEG']) parts.push(preprocessImage(readImage(join(IMAGENET, f)), preset).tensor);
  parts.push(randNormal(new Rng(5), n));
  const data = new Float32Array(parts.length * n);
  parts.forEach((t, i) => data.set(t, i * n));
  return { data, dims: [parts.length, 3, QUANT_INPUT, QUANT_INPUT] };
}

/** The scale of the DequantizeLinear that produces the model's output: one level of the logits. */
function outputStep(bytes: Uint8Array): number {
  const g = decodeOnnx(bytes);
  const out = g.outputs[0]!.name;
  const dq = g.nodes.find((n) => n.outputs[0] === out && n.opType === 'DequantizeLinear');
  return dq ? g.initializers.get(dq.inputs[1]!)!.data[0]! : NaN;
}

describe('QOperator models (onnxruntime quantiser) match onnxruntime-node', () => {
  const x = inputs();
  for (const file of files) {
    it(file, async () => {
      const bytes = new Uint8Array(readFileSync(join(FIXTURES, file)));
      const gpu = await testGpu();
      const model = await Model.load(bytes, { gpu, tune: false });
      try {
        const name = model.inputs[0]!.name;
        const ours = (await model.run({ [name]: { dtype: 'float32', shape: x.dims, data: x.data.slice() } })).outputs[model.outputs[0]!.name]!;
        const [ref] = await runOrt(bytes, x);
        const step = outputStep(bytes);
        const c = compareLogits(ours.data, ref!.data, ref!.dims[1]);
        let off = 0;
        for (let i = 0; i < ref!.data.length; i++) if (Math.abs(ours.data[i]! - ref!.data[i]!) > step / 2) off++;
        console.log(file, `step ${step.toExponential(3)}, max |diff| ${c.maxAbsErr.toExponential(3)} = ${(c.maxAbsErr / step).toFixed(2)} steps, ${off}/${ref!.data.length} off by a step or more, top5 ${c.top5Agree}`);
        expect(c.top5Agree).toBe(true);
        // Both engines round the same real values to levels; they differ only where a float32 sum
        // lands within its rounding error of a half-level boundary in some layer, and such a flip
        // reaches the logits scaled by the layers after it. Observed: exact on four of the five
        // fixtures, at most 3 output steps on the uint8-weight per-tensor MobileNetV2.
        expect(c.maxAbsErr).toBeLessThanOrEqual(4 * step);
        // And that with the quantise/dequantise pair after each Conv fused into its epilogue (all
        // but ResNet's stem, whose levels feed a MaxPool).
        const fused = model.specialize(model.inputShapes(1), new Set()).nodes;
        expect(fused.filter((n) => n.node.attrs['_fakequant']).length).toBeGreaterThanOrEqual(fused.filter((n) => n.node.opType === 'Conv').length - 1);
      } finally {
        model.destroy();
      }
    }, 120_000);
  }
});

describe('the benchmark quantiser (tools/qoperator-quantize.ts)', () => {
  it('writes a QOperator ResNet that onnxruntime-node and we run alike', async () => {
    const zoo = buildResNet50({ width: 0.0625, inputSize: QUANT_INPUT, numClasses: 20, seed: 3 });
    const dims = [2, 3, QUANT_INPUT, QUANT_INPUT];
    const calib = [0, 1].map((s) => randNormal(new Rng(100 + s), 2 * 3 * QUANT_INPUT * QUANT_INPUT));
    const bytes = quantizeQOperator(zoo.bytes, await calibrateWithOrt(zoo.bytes, calib, dims));
    const ops = new Set(decodeOnnx(bytes).nodes.map((n) => n.opType));
    expect([...ops].sort()).toEqual(['Flatten', 'Identity', 'MaxPool', 'QGemm', 'QLinearAdd', 'QLinearConv', 'QLinearGlobalAveragePool', 'QuantizeLinear']);
    const x = randNormal(new Rng(8), 2 * 3 * QUANT_INPUT * QUANT_INPUT);
    const [ref] = await runOrt(bytes, { dims, data: x });
    const model = await Model.load(bytes, { gpu: await testGpu(), tune: false });
    try {
      const ours = (await model.run({ [zoo.inputName]: { dtype: 'float32', shape: dims, data: x.slice() } })).outputs[zoo.outputName]!;
      const c = compareLogits(ours.data, ref!.data, 20);
      expect(c.top5Agree).toBe(true);
      // Float logits (QGemm without y_scale): observed 2.5e-7 of their scale; a level flip in the
      // pooled features would move a logit by x_scale · w_scale · |w_q| (about 1e-3 of it).
      expect(c.maxRelErr).toBeLessThan(0.01);
      console.log('benchmark quantiser: max rel diff', c.maxRelErr.toExponential(2));
    } finally {
      model.destroy();
    }
  }, 120_000);
});

describe('unsupported quantised ops', () => {
  it('names the op, its domain and the opset', async () => {
    const g = new GraphBuilder('refused', 17);
    g.input('x', [1, 4]);
    const s = g.initializer('s', [], new Float32Array([0.1]));
    const z = g.initializer('z', [], new Uint8Array([128]));
    const q = g.op('QuantizeLinear', ['x', s, z]);
    g.node('QLinearReduceMean', [q, s, z, s, z], ['y'], {}, { domain: 'com.microsoft' });
    g.output('y');
    const err = await Model.load(g.toBytes({ extraOpsets: { 'com.microsoft': 1 } }), { gpu: await testGpu(), warmup: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedOperatorError);
    expect((err as Error).message).toMatch(/com\.microsoft\.QLinearReduceMean \(domain com\.microsoft, opset 1\)/);
  });
});

describe('QOperator ops at the newest opsets, on run-time inputs', () => {
  // ai.onnx opset 21 (what onnxruntime 1.30 writes by default): a float input quantised in the
  // graph, so every op runs on the GPU rather than folding on the host.
  it('QuantizeLinear → QLinearMatMul (per-column int8 weights) and dynamic quantisation → MatMulInteger', async () => {
    const rng = new Rng(12);
    const g = new GraphBuilder('qmatmul21', 21);
    g.input('x', [3, 16]);
    const sx = g.initializer('sx', [], new Float32Array([0.02]));
    const zx = g.initializer('zx', [], new Int8Array([3]));
    const qx = g.op('QuantizeLinear', ['x', sx, zx]);
    const w = g.initializer('w', [16, 5], Int8Array.from({ length: 80 }, () => Math.round(rng.uniform(-100, 100))));
    const ws = g.initializer('ws', [5], Float32Array.from({ length: 5 }, () => rng.uniform(0.002, 0.01)));
    const wz = g.initializer('wz', [5], new Int8Array(5));
    const ys = g.initializer('ys', [], new Float32Array([0.05]));
    const yz = g.initializer('yz', [], new Int8Array([-4]));
    const qy = g.op('QLinearMatMul', [qx, sx, zx, w, ws, wz, ys, yz]);
    g.node('DequantizeLinear', [qy, ys, yz], ['y']);
    // onnxruntime's quantize_dynamic pattern: DynamicQuantizeLinear, MatMulInteger, Cast, scale.
    const [dq, ds, dz] = g.node('DynamicQuantizeLinear', ['x'], 3);
    const wu = g.initializer('wu', [16, 5], Uint8Array.from({ length: 80 }, () => Math.round(rng.uniform(0, 255))));
    const wuz = g.initializer('wuz', [], new Uint8Array([128]));
    const acc = g.op('MatMulInteger', [dq!, wu, dz!, wuz]);
    g.node('Mul', [g.op('Cast', [acc], { to: 1 }), g.op('Mul', [ds!, g.initializer('wus', [], new Float32Array([0.004]))])], ['z']);
    g.output('y', [3, 5]);
    g.output('z', [3, 5]);
    const bytes = g.toBytes();
    const x = Float32Array.from(randNormal(rng, 48), (v) => v * 1.5);
    const ref = await runOrt(bytes, { dims: [3, 16], data: x });
    const model = await Model.load(bytes, { gpu: await testGpu(), tune: false });
    try {
      const { outputs } = await model.run({ x: { dtype: 'float32', shape: [3, 16], data: x.slice() } });
      // y: levels of 0.05, at most one apart; z: exact integer sums times a float scale.
      for (let i = 0; i < 15; i++) expect(Math.abs(outputs['y']!.data[i]! - ref[0]!.data[i]!)).toBeLessThanOrEqual(0.05 + 1e-6);
      const c = compareLogits(outputs['z']!.data, ref[1]!.data);
      expect(c.maxRelErr).toBeLessThan(1e-5);
    } finally {
      model.destroy();
    }
  });
});
