/**
 * A tf2onnx/Keras-style channels-last classifier ([N, H, W, C] input, Transpose to NCHW in front,
 * a Transpose back before an NHWC global mean, Softmax head): presented NCHW by default, run as
 * written with `channelsLast: 'keep'`, both matching onnxruntime-node; preprocessing in either
 * layout; SISE finds its blocks and explains.
 */
import { describe, expect, it } from 'vitest';
import { Model } from '../src/runtime/model.js';
import { detectBlocks } from '../src/xai/blocks.js';
import { explainImage } from '../src/xai/explain.js';
import { preprocessImage, PRESETS } from '../src/xai/preprocess.js';
import { GraphBuilder, Rng, heWeights, randNormal } from '../tools/onnx-writer.js';
import { compareLogits, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

const S = 48;

/** `quantised`: the input is quantised to uint8 before the Transpose (int8 TFLite conversions). */
function keras(quantised = false): Uint8Array {
  const rng = new Rng(11);
  const g = new GraphBuilder('keras_like', 13);
  g.input('input_1', ['N', S, S, 3]);
  let x: string;
  if (quantised) {
    const s = g.initializer('in_scale', [], new Float32Array([0.03]));
    const z = g.initializer('in_zp', [], new Uint8Array([120]));
    x = g.op('DequantizeLinear', [g.op('Transpose', [g.op('QuantizeLinear', ['input_1', s, z])], { perm: [0, 3, 1, 2] }), s, z]);
  } else {
    x = g.op('Transpose', ['input_1'], { perm: [0, 3, 1, 2] });
  }
  const conv = (v: string, cin: number, cout: number, stride: number, name: string): string => {
    const w = g.initializer(`${name}/kernel`, [cout, cin, 3, 3], heWeights(rng, [cout, cin, 3, 3], cin * 9));
    const b = g.initializer(`${name}/bias`, [cout], randNormal(rng, cout, 0.05));
    return g.op('Relu', [g.op('Conv', [v, w, b], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1] })]);
  };
  x = conv(x, 3, 8, 2, 'conv1');
  x = conv(x, 8, 16, 2, 'conv2');
  x = g.op('Add', [x, conv(x, 16, 16, 1, 'conv3')]);
  x = conv(x, 16, 32, 2, 'conv4');
  x = g.op('Transpose', [x], { perm: [0, 2, 3, 1] });
  x = g.op('ReduceMean', [x], { axes: [1, 2], keepdims: 0 });
  const w = g.initializer('dense/kernel', [32, 10], heWeights(rng, [32, 10], 32));
  const b = g.initializer('dense/bias', [10], randNormal(rng, 10, 0.1));
  g.node('Softmax', [g.op('Add', [g.op('MatMul', [x, w]), b])], ['dense'], { axis: 1 });
  g.output('dense', ['N', 10]);
  return g.toBytes();
}

function toNchw(hwc: Float32Array, n: number): Float32Array {
  const out = new Float32Array(hwc.length);
  const plane = S * S;
  for (let b = 0; b < n; b++) for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[b * 3 * plane + c * plane + i] = hwc[b * 3 * plane + i * 3 + c]!;
  return out;
}

const photo = { width: 80, height: 64, data: new Uint8Array(80 * 64 * 4).map((_, i) => (i % 4 === 3 ? 255 : ((i >> 2) % 80) * 3 + (i % 4) * 40 + ((i >> 2) / 80 > 30 ? 60 : 0))) };

describe('channels-last models', () => {
  const bytes = keras();
  const nhwc = randNormal(new Rng(1), 2 * S * S * 3);

  it('load presented NCHW (default) or as written, both matching onnxruntime-node', async () => {
    const gpu = await testGpu();
    const [ref] = await runOrt(bytes, { dims: [2, S, S, 3], data: nhwc });
    const nchw = await Model.load(bytes, { gpu, tune: false });
    const kept = await Model.load(bytes, { gpu, tune: false, channelsLast: 'keep' });
    try {
      expect(nchw.inputs[0]!.shape).toEqual(['N', 3, S, S]);
      expect(nchw.graph.channelsLastInputs).toEqual(['input_1']);
      expect(kept.inputs[0]!.shape).toEqual(['N', S, S, 3]);
      const a = (await nchw.run({ input_1: { dtype: 'float32', shape: [2, 3, S, S], data: toNchw(nhwc, 2) } })).outputs['dense']!;
      const b = (await kept.run({ input_1: { dtype: 'float32', shape: [2, S, S, 3], data: nhwc.slice() } })).outputs['dense']!;
      for (const got of [a, b]) {
        const c = compareLogits(got.data, ref!.data, 10);
        expect(c.top5Agree).toBe(true);
        expect(c.maxRelErr).toBeLessThan(1e-4);
      }
    } finally {
      nchw.destroy();
      kept.destroy();
    }
  });

  it('finds the Transpose behind a per-tensor QuantizeLinear (int8 conversions)', async () => {
    const q = keras(true);
    const [ref] = await runOrt(q, { dims: [2, S, S, 3], data: nhwc });
    const model = await Model.load(q, { gpu: await testGpu(), tune: false });
    try {
      expect(model.inputs[0]!.shape).toEqual(['N', 3, S, S]);
      expect(model.graph.nodes.filter((n) => n.opType === 'Transpose').length).toBe(1);
      const got = (await model.run({ input_1: { dtype: 'float32', shape: [2, 3, S, S], data: toNchw(nhwc, 2) } })).outputs['dense']!;
      expect(compareLogits(got.data, ref!.data, 10).maxRelErr).toBeLessThan(1e-4);
    } finally {
      model.destroy();
    }
  });

  it('preprocessing follows the layout', () => {
    const p = { ...PRESETS.imagenet, size: S, resize: S };
    const chw = preprocessImage(photo, p);
    const hwc = preprocessImage(photo, { ...p, layout: 'NHWC' });
    expect(hwc.shape).toEqual([1, S, S, 3]);
    expect(toNchw(hwc.tensor, 1)).toEqual(chw.tensor);
  });

  it('SISE finds its blocks and explains', async () => {
    const gpu = await testGpu();
    const model = await Model.load(bytes, { gpu, tune: false });
    try {
      expect(detectBlocks(model).map((b) => b.shape)).toEqual([[1, 8, 24, 24], [1, 16, 12, 12], [1, 32, 6, 6]]);
      const e = await explainImage(model, photo, { ...PRESETS.imagenet, size: S, resize: S }, 'sise', { batchSize: 16 });
      expect(e.map.data.every(Number.isFinite)).toBe(true);
      expect(Math.max(...e.map.data) - Math.min(...e.map.data)).toBeGreaterThan(0.5);
      expect(e.layers?.length).toBe(3);
    } finally {
      model.destroy();
    }
  }, 120_000);
});
