/**
 * The real pretrained models in ../shared/models against onnxruntime-node (CPU) on real photographs:
 * logits within 1e-3 of the reference's scale and the same top-5.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../src/runtime/model.js';
import { preprocessImage, PRESETS, type Preprocessing } from '../src/xai/preprocess.js';
import { readImage } from '../src/image-io.js';
import { compareLogits, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

const SHARED = join(__dirname, '..', '..', 'shared');
const MODELS = join(SHARED, 'models');
const IMAGENET = join(SHARED, 'images', 'imagenet-val');
const have = existsSync(MODELS) && existsSync(IMAGENET);

function imageBatch(files: string[], p: Preprocessing): { data: Float32Array; dims: number[] } {
  const parts = files.map((f) => preprocessImage(readImage(f), p).tensor);
  const data = new Float32Array(parts.reduce((s, t) => s + t.length, 0));
  parts.forEach((t, i) => data.set(t, i * t.length));
  return { data, dims: [files.length, p.channels === 'gray' ? 1 : 3, p.size, p.size] };
}

const photos = ['ILSVRC2012_val_00000001.JPEG', 'ILSVRC2012_val_00000003.JPEG'].map((f) => join(IMAGENET, f));

interface Case { file: string; oracle?: string; preset: Preprocessing; tol: number; note: string; ortOpts?: { graphOptimizationLevel: 'disabled' } }
const cases: Case[] = [
  { file: 'squeezenet1.1-fp32.onnx', preset: PRESETS.caffe, tol: 1e-3, note: 'fp32, ends in Softmax' },
  // The fp16 file holds the same weights as the fp32 one, widened losslessly: our widened run must
  // match onnxruntime on the fp32 file (onnxruntime's fp16 kernels would add their own rounding).
  { file: 'squeezenet1.1-fp16.onnx', oracle: 'squeezenet1.1-fp32.onnx', preset: PRESETS.caffe, tol: 1e-3, note: 'fp16 initializers widened' },
  { file: 'shufflenet-v2-fp32.onnx', preset: PRESETS.imagenet, tol: 1e-3, note: 'fp32 logits' },
  // Activation Q/DQ pairs run as fake quantisation in float32; onnxruntime runs the graph as written
  // (optimisations off, so it does not swap in its integer kernels) and both round the same values.
  { file: 'shufflenet-v2-qdq-int8.onnx', preset: PRESETS.imagenet, tol: 1e-3, note: 'int8 QDQ', ortOpts: { graphOptimizationLevel: 'disabled' } },
];

const MNIST = join(SHARED, 'images', 'mnist');
describe.skipIf(!have)('MNIST models against onnxruntime-node', () => {
  for (const file of ['mnist-cnn.onnx', 'mnist-cnn-opt.onnx']) {
    it(`${file} on real digits, batch of 4`, async () => {
      const gpu = await testGpu();
      const bytes = new Uint8Array(readFileSync(join(MODELS, file)));
      const model = await Model.load(bytes, { gpu });
      try {
        const x = imageBatch(['0.jpg', '3.jpg', '5.jpg', '7.jpg'].map((f) => join(MNIST, f)), PRESETS.mnist);
        const ours = (await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: x.dims, data: x.data } })).outputs[model.outputs[0]!.name]!;
        const refs = await Promise.all([0, 1, 2, 3].map(async (i) => (await runOrt(bytes, { dims: [1, 1, 28, 28], data: x.data.slice(i * 784, (i + 1) * 784) }))[0]!.data));
        const ref = new Float32Array(40);
        refs.forEach((r, i) => ref.set(r, i * 10));
        const cmp = compareLogits(ours.data, ref, 10);
        expect(cmp.maxRelErr).toBeLessThan(1e-3);
        expect(cmp.top5SameOrder).toBe(true);
        expect(cmp.top5.map((t) => t.b[0])).toEqual([0, 3, 5, 7]);
      } finally {
        model.destroy();
      }
    });
  }
});

describe.skipIf(!have)('shared models against onnxruntime-node', () => {
  for (const c of cases) {
    it(`${c.file} (${c.note}), batch of 2 real photographs`, async () => {
      const gpu = await testGpu();
      const bytes = new Uint8Array(readFileSync(join(MODELS, c.file)));
      const model = await Model.load(bytes, { gpu });
      try {
        const x = imageBatch(photos, c.preset);
        const ours = (await model.run({ [model.inputs[0]!.name]: { dtype: 'float32', shape: x.dims, data: x.data } })).outputs[model.outputs[0]!.name]!;
        const oracleBytes = new Uint8Array(readFileSync(join(MODELS, c.oracle ?? c.file)));
        // The shared models declare batch 1: onnxruntime runs each image alone, we run the batch.
        const per = x.data.length / photos.length;
        const refs = await Promise.all(photos.map(async (_, i) => (await runOrt(oracleBytes, { dims: [1, ...x.dims.slice(1)], data: x.data.slice(i * per, (i + 1) * per) }, c.ortOpts))[0]!.data));
        const ref = new Float32Array(refs.reduce((s, r) => s + r.length, 0));
        refs.forEach((r, i) => ref.set(r, i * r.length));
        expect(ours.data.length).toBe(ref.length);
        const cmp = compareLogits(ours.data, ref, refs[0]!.length);
        expect(cmp.maxRelErr).toBeLessThan(c.tol);
        expect(cmp.top5SameOrder).toBe(true);
      } finally {
        model.destroy();
      }
    });
  }
});
