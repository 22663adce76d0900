/**
 * Architectures the shared models lack, built by the project's ONNX writer with random weights and
 * compared with onnxruntime-node: narrow versions of VGG-16, ResNet-50, DenseNet-121, MobileNetV2
 * and EfficientNet-B0, plus one full-size ResNet-50 forward.
 */
import { describe, expect, it } from 'vitest';
import { Model } from '../src/runtime/model.js';
import { buildDenseNet121, buildEfficientNetB0, buildMobileNetV2, buildResNet50, buildVGG16, type ZooModel } from '../tools/model-zoo.js';
import { compareLogits, randomInput, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

async function compareWithOrt(z: ZooModel, batch: number, seed: number): Promise<void> {
  const gpu = await testGpu();
  const model = await Model.load(z.bytes, { gpu });
  try {
    const x = randomInput([batch, 3, z.inputShape[2], z.inputShape[3]], seed);
    const ours = (await model.run({ [z.inputName]: { dtype: 'float32', shape: x.dims, data: x.data } })).outputs[z.outputName]!;
    const [ref] = await runOrt(z.bytes, x);
    expect(ours.shape).toEqual(ref!.dims);
    const cmp = compareLogits(ours.data, ref!.data, z.numClasses);
    expect(cmp.maxRelErr, `${z.name}: max relative error`).toBeLessThan(1e-3);
    expect(cmp.top5SameOrder, `${z.name}: top-5 ${JSON.stringify(cmp.top5)}`).toBe(true);
  } finally {
    model.destroy();
  }
}

describe('model zoo architectures against onnxruntime-node', () => {
  const narrow = { width: 0.125, inputSize: 64, numClasses: 100 };
  it('VGG-16 (narrow, exporter-style Shape/Gather/Concat/Reshape flatten)', () => compareWithOrt(buildVGG16({ ...narrow, seed: 1 }), 2, 11));
  it('ResNet-50 (narrow, separate BatchNormalization, residual Add)', () => compareWithOrt(buildResNet50({ ...narrow, seed: 2, bn: 'separate' }), 2, 12));
  it('DenseNet-121 (narrow, Concat, AveragePool transitions)', () => compareWithOrt(buildDenseNet121({ ...narrow, seed: 3 }), 2, 13));
  it('MobileNetV2 (narrow, depthwise, Clip 0..6)', () => compareWithOrt(buildMobileNetV2({ ...narrow, seed: 4 }), 2, 14));
  it('EfficientNet-B0 (narrow, Swish, squeeze-excitation, depthwise 5x5)', () => compareWithOrt(buildEfficientNetB0({ ...narrow, seed: 5 }), 2, 15));
  it('ResNet-50 at full size, 224x224', () => compareWithOrt(buildResNet50({ seed: 6, numClasses: 1000 }), 1, 16), 600_000);
});
