/**
 * SISE block detection (methods spec 1.2 phase 1): the paper's five layers on VGG-16 and ResNet-50
 * (random-weight zoo models with the torchvision topologies, 224 input), sensible layers on the
 * shared real models, dominator logic on small hand-made graphs, and the user override.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../../src/runtime/model.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { detectBlocks, outputDominators } from '../../src/xai/blocks.js';
import { buildDenseNet121, buildMobileNetV2, buildResNet50, buildVGG16 } from '../../tools/model-zoo.js';
import { GraphBuilder } from '../../tools/onnx-writer.js';
import { testGpu } from '../helpers/gpu.js';

const MODELS = join(__dirname, '..', '..', '..', 'shared', 'models');
const NARROW = { width: 0.125, inputSize: 224, numClasses: 10, seed: 1 };

let gpu: GpuContext;
beforeAll(async () => { gpu = await testGpu(); });
const load = (bytes: Uint8Array) => Model.load(bytes, { gpu, warmup: false });

function producers(m: Model): Map<string, { opType: string; inputs: string[] }> {
  const p = new Map<string, { opType: string; inputs: string[] }>();
  for (const n of m.graph.nodes) for (const o of n.outputs) p.set(o, n);
  return p;
}
function consumers(m: Model, name: string): string[] {
  return m.graph.nodes.filter((n) => n.inputs.includes(name)).map((n) => n.opType);
}

describe('detectBlocks', () => {
  it('VGG-16: the ReLU feeding each of the five max-pools', async () => {
    const m = await load(buildVGG16(NARROW).bytes);
    const blocks = detectBlocks(m);
    expect(blocks.map((b) => b.shape)).toEqual([[1, 8, 224, 224], [1, 16, 112, 112], [1, 32, 56, 56], [1, 64, 28, 28], [1, 64, 14, 14]]);
    const prod = producers(m);
    for (const b of blocks) {
      expect(prod.get(b.name)!.opType).toBe('Relu');
      expect(consumers(m, b.name)).toEqual(['MaxPool']);
    }
    // conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 (the zoo numbers convs 0, 2, 4... without the
    // pools, so torchvision's features.{2,7,14,21,28} are its features.{2,6,12,18,24}).
    const convOf = (b: { name: string }) => m.graph.nodes.find((n) => n.outputs.includes(prod.get(b.name)!.inputs[0]!))!.inputs[1];
    expect(blocks.map(convOf)).toEqual(['features.2.weight', 'features.6.weight', 'features.12.weight', 'features.18.weight', 'features.24.weight']);
  });

  it('ResNet-50: stem ReLU and the four stage outputs (3904 channels at full width)', async () => {
    const m = await load(buildResNet50(NARROW).bytes);
    const blocks = detectBlocks(m);
    expect(blocks.map((b) => b.shape)).toEqual([[1, 8, 112, 112], [1, 32, 56, 56], [1, 64, 28, 28], [1, 128, 14, 14], [1, 256, 7, 7]]);
    expect(blocks.reduce((s, b) => s + b.shape[1]!, 0) * 8).toBe(3904);
    const prod = producers(m);
    expect(consumers(m, blocks[0]!.name)).toEqual(['MaxPool']);
    expect(consumers(m, blocks[4]!.name)).toEqual(['GlobalAveragePool']);
    // Stage outputs are the last residual ReLU(Add) at their resolution.
    const order = m.graph.nodes.map((n) => n.outputs[0]!);
    for (const b of blocks.slice(1)) {
      const r = prod.get(b.name)!;
      expect(r.opType).toBe('Relu');
      expect(prod.get(r.inputs[0]!)!.opType).toBe('Add');
      const level = b.shape.slice(2).join('x');
      const laterResidual = order.slice(order.indexOf(b.name) + 1).filter((t) => {
        const p = prod.get(t)!;
        return p.opType === 'Relu' && prod.get(p.inputs[0]!)?.opType === 'Add' && m.tensorShapes().get(t)!.slice(2).join('x') === level;
      });
      expect(laterResidual).toEqual([]);
    }
  });

  it('DenseNet-121 and MobileNetV2: one layer per level, shallow → deep', async () => {
    for (const build of [buildDenseNet121, buildMobileNetV2]) {
      const m = await load(build(NARROW).bytes);
      const blocks = detectBlocks(m);
      expect(blocks.map((b) => b.shape[2])).toEqual([112, 56, 28, 14, 7]);
      if (build === buildDenseNet121) {
        // Dense blocks 1-3: the transition's ReLU(BN(Concat)) (post-activation, before its 1x1 conv).
        const prod = producers(m);
        for (const b of blocks.slice(1, 4)) {
          expect(prod.get(b.name)!.opType).toBe('Relu');
          expect(prod.get(prod.get(prod.get(b.name)!.inputs[0]!)!.inputs[0]!)!.opType).toBe('Concat');
        }
      }
    }
  });

  it('honours a user override and rejects unknown or non-4-D names', async () => {
    const m = await load(buildVGG16({ ...NARROW, inputSize: 64 }).bytes);
    const auto = detectBlocks(m);
    const pick = [auto[3]!.name, auto[1]!.name];
    expect(detectBlocks(m, { layers: pick }).map((b) => b.name)).toEqual(pick);
    expect(() => detectBlocks(m, { layers: ['nope'] })).toThrow(/no tensor/);
    expect(() => detectBlocks(m, { layers: [m.outputs[0]!.name] })).toThrow(/4-D/);
  });

  it('dominators: a branch-and-merge graph exposes only the fork and join points', async () => {
    const g = new GraphBuilder('diamond', 13);
    g.input('x', ['N', 2, 8, 8]);
    const w = g.initializer('w', [2, 2, 1, 1], new Float32Array([1, 0.5, -0.5, 1]));
    const a = g.op('Conv', ['x', w]);
    const r = g.op('Relu', [a]);
    const b1 = g.op('Conv', [r, w]);
    const b2 = g.op('Sigmoid', [r]);
    const s = g.op('Add', [b1, b2]);
    const p = g.op('MaxPool', [s], { kernel_shape: [2, 2], strides: [2, 2] });
    g.node('Relu', [p], ['y']);
    g.output('y', ['N', 2, 4, 4]);
    const m = await load(g.toBytes());
    const spec = m.specialize(m.inputShapes(1), new Set(), false);
    expect(outputDominators(spec, 'x')).toEqual(['x', a, r, s, p, 'y']);
    // The 4x4 level has no convolution of its own: a lone pooling output is not a block.
    expect(detectBlocks(m).map((bl) => bl.name)).toEqual([s]);
  });

  const shared = ['squeezenet1.1-fp32.onnx', 'shufflenet-v2-fp32.onnx'];
  for (const file of shared) {
    it.skipIf(!existsSync(join(MODELS, file)))(`real model ${file}: one layer per down-sampling level`, async () => {
      const m = await load(readFileSync(join(MODELS, file)));
      const blocks = detectBlocks(m);
      const prod = producers(m);
      console.log(`${file}: ${blocks.map((b) => `${b.name} (${prod.get(b.name)?.opType}) [${b.shape.join(',')}]`).join('; ')}`);
      const sides = blocks.map((b) => b.shape[2]!);
      expect(sides.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < sides.length; i++) expect(sides[i]).toBeLessThan(sides[i - 1]!);
      expect(sides[0]).toBeLessThan(224);
    });
  }
});
