/**
 * Sanity of the test-model side: the ONNX writer, the random-weight model zoo (run in
 * onnxruntime-node), the ORT/compare helpers and the fuzz mutator.
 */
import { describe, expect, it } from 'vitest';
import { A, DataType, GraphBuilder, decodeModel, int64s, toFloat16Bits } from '../tools/onnx-writer.js';
import { ZOO, buildMobileNetV2, buildResNet50, buildVGG16, type ZooModel } from '../tools/model-zoo.js';
import { compareLogits, createOrtSession, randomInput, runOrt } from './helpers/ort.js';
import { mutatedModels, mutatedModelsWithKinds } from './helpers/fuzz.js';

const NARROW = { width: 0.125, inputSize: 64, numClasses: 10, seed: 3 };

async function runZoo(m: ZooModel, batch = 2, seed = 11) {
  const size = m.inputShape[2];
  const [out] = await runOrt(m.bytes, { [m.inputName]: randomInput([batch, 3, size, size], seed) });
  return out!;
}

function checkLogits(data: Float32Array, batch: number, classes: number): void {
  expect(data.length).toBe(batch * classes);
  for (const v of data) expect(Number.isFinite(v)).toBe(true);
  for (let r = 0; r < batch; r++) {
    const row = data.subarray(r * classes, (r + 1) * classes);
    const mean = row.reduce((a, b) => a + b, 0) / classes;
    const std = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / classes);
    // Not constant across classes, and O(1): neither vanished nor exploded through the depth.
    expect(std).toBeGreaterThan(0.05);
    expect(std).toBeLessThan(100);
  }
}

describe('onnx-writer', () => {
  it('encodes typed attributes, initializers and symbolic dims', () => {
    const g = new GraphBuilder('attrs', 13);
    g.input('x', ['N', 4]);
    const w = g.initializer('w', [3, 4], new Float32Array(12).fill(0.5));
    const w2 = g.initializer('w2', [2], new Float32Array([1, 2]), { raw: false });
    const y = g.node('Gemm', ['x', w], ['y'], { alpha: A.float(1), beta: 0.5, transB: 1 })[0]!;
    g.node('Foo', [y, w2], 1, { ks: [3, 3], fs: [0.5, 1.5], s: 'abc', t: { dims: [2], data: int64s([7, -1]) }, skip: undefined }, { domain: 'test' });
    g.output(y, ['N', 3]);
    const m = decodeModel(g.toBytes());
    expect(Number(m.irVersion)).toBe(7);
    expect(m.opsetImport[0]!.version).toBeDefined();
    const gr = m.graph!;
    expect(gr.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam).toBe('N');
    expect(Number(gr.input![0]!.type!.tensorType!.shape!.dim![1]!.dimValue)).toBe(4);
    expect(gr.initializer![0]!.rawData!.length).toBe(48);
    expect(gr.initializer![1]!.floatData).toEqual([1, 2]);
    const [gemm, foo] = gr.node!;
    const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 };
    expect(gemm!.attribute!.map((a) => [a.name, a.type])).toEqual([['alpha', AT.FLOAT], ['beta', AT.FLOAT], ['transB', AT.INT]]);
    expect(foo!.domain).toBe('test');
    expect(foo!.attribute!.map((a) => a.type)).toEqual([AT.INTS, AT.FLOATS, AT.STRING, AT.TENSOR]);
    expect(foo!.attribute![3]!.t!.dataType).toBe(DataType.INT64);
  });

  it('float16 bits round to nearest even', () => {
    const h = toFloat16Bits(new Float32Array([0, 1, -2, 65504, 1e6, 5.960464477539063e-8, 0.1, NaN]));
    expect(Array.from(h.subarray(0, 7))).toEqual([0x0000, 0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x2e66]);
    expect(h[7]! & 0x7c00).toBe(0x7c00);
    expect(h[7]! & 0x3ff).not.toBe(0);
  });

  it('raw_data and float_data initializers give the same ORT result', async () => {
    const m1 = buildResNet50({ ...NARROW, width: 0.0625, inputSize: 32, rawData: true });
    const m2 = buildResNet50({ ...NARROW, width: 0.0625, inputSize: 32, rawData: false });
    expect(decodeModel(m2.bytes).graph!.initializer![0]!.floatData!.length).toBeGreaterThan(0);
    expect(decodeModel(m1.bytes).graph!.initializer![0]!.rawData!.length).toBeGreaterThan(0);
    const a = await runZoo(m1, 1);
    const b = await runZoo(m2, 1);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
  });
});

describe('model zoo in onnxruntime-node', () => {
  for (const [name, build] of Object.entries(ZOO)) {
    it(`${name}: narrow model runs with symbolic batch, finite non-constant logits`, async () => {
      const m = build(NARROW);
      expect(m.inputShape).toEqual(['N', 3, 64, 64]);
      const out = await runZoo(m, 2);
      expect(out.dims).toEqual([2, 10]);
      checkLogits(out.data, 2, 10);
      // The two batch rows differ (the batch really flows through).
      expect(compareLogits(out.data.subarray(0, 10), out.data.subarray(10)).maxRelErr).toBeGreaterThan(1e-3);
      // Same seed -> same bytes; other seed -> other weights.
      expect(Buffer.from(build(NARROW).bytes).equals(Buffer.from(m.bytes))).toBe(true);
      expect(Buffer.from(build({ ...NARROW, seed: 4 }).bytes).equals(Buffer.from(m.bytes))).toBe(false);
    });
  }

  it('topology details are present', () => {
    const ops = (m: ZooModel) => new Set(decodeModel(m.bytes).graph!.node!.map((n) => n.opType!));
    const vgg = ops(ZOO.vgg16(NARROW));
    for (const op of ['Shape', 'Gather', 'Unsqueeze', 'Concat', 'Reshape', 'Constant', 'Dropout', 'Gemm', 'MaxPool']) expect(vgg).toContain(op);
    const res = ops(ZOO.resnet50(NARROW));
    for (const op of ['BatchNormalization', 'Add', 'Relu', 'GlobalAveragePool', 'Identity', 'Flatten', 'Gemm']) expect(res).toContain(op);
    const dense = ops(ZOO.densenet121(NARROW));
    for (const op of ['Concat', 'AveragePool', 'BatchNormalization', 'Reshape']) expect(dense).toContain(op);
    const mb = decodeModel(ZOO.mobilenetv2(NARROW).bytes).graph!.node!;
    expect(mb.some((n) => n.opType === 'Clip' && n.input!.length === 3)).toBe(true);
    expect(mb.some((n) => n.opType === 'Conv' && n.attribute!.some((a) => a.name === 'group' && Number(a.i) > 1))).toBe(true);
    const eff = decodeModel(ZOO.efficientnet_b0(NARROW).bytes).graph!.node!;
    expect(eff.some((n) => n.opType === 'Conv' && n.attribute!.some((a) => a.name === 'kernel_shape' && Number(a.ints![0]) === 5))).toBe(true);
    expect(eff.filter((n) => n.opType === 'Sigmoid').length).toBeGreaterThan(10);
  });

  it('older opsets: Clip and Dropout attributes, Unsqueeze axes attribute', async () => {
    for (const m of [buildMobileNetV2({ ...NARROW, opset: 10 }), buildVGG16({ ...NARROW, opset: 11 }), ZOO.efficientnet_b0({ ...NARROW, opset: 11 })]) {
      const out = await runZoo(m, 1);
      checkLogits(out.data, 1, 10);
    }
    const clip = decodeModel(buildMobileNetV2({ ...NARROW, opset: 10 }).bytes).graph!.node!.find((n) => n.opType === 'Clip')!;
    expect(clip.input!.length).toBe(1);
    expect(clip.attribute!.map((a) => a.name).sort()).toEqual(['max', 'min']);
  });

  it('full-size ResNet-50 at 224 builds and runs', async () => {
    const m = buildResNet50({ seed: 1 });
    expect(m.inputShape).toEqual(['N', 3, 224, 224]);
    // torchvision: 25,557,032 trainable parameters + BN running statistics (53,120 x 2).
    expect(m.paramCount).toBe(25_557_032 + 2 * 26_560);
    const session = await createOrtSession(m.bytes);
    const [out] = await runOrt(session, randomInput([1, 3, 224, 224], 5));
    await session.release();
    expect(out!.dims).toEqual([1, 1000]);
    checkLogits(out!.data, 1, 1000);
  });
});

describe('helpers', () => {
  it('compareLogits', () => {
    const b = new Float32Array([1, 5, 3, 2, 4, 0, -1]);
    const a = new Float32Array([1, 5.1, 3, 2, 4, 0, -1]);
    const c = compareLogits(a, b);
    expect(c.maxRelErr).toBeCloseTo(0.02, 5);
    expect(c.top5Agree && c.top5SameOrder && c.top1Agree).toBe(true);
    const d = compareLogits(new Float32Array([1, 5, 3, 2, 0, 4, -1]), b);
    expect(d.top5Agree).toBe(false);
    expect(compareLogits(new Float32Array([NaN, 0, 0, 0, 0, 0, 0]), b).maxRelErr).toBe(Infinity);
  });

  it('mutatedModels is deterministic, leaves the source alone and mixes kinds', () => {
    const src = buildResNet50({ width: 0.0625, inputSize: 32, numClasses: 10 }).bytes;
    const copy = src.slice();
    const a = mutatedModelsWithKinds(src, 60, 9);
    const b = mutatedModels(src, 60, 9);
    expect(a.length).toBe(60);
    expect(a.every((m, i) => Buffer.from(m.bytes).equals(Buffer.from(b[i]!)))).toBe(true);
    expect(Buffer.from(src).equals(Buffer.from(copy))).toBe(true);
    const kinds = new Set(a.map((m) => m.kind.split('+')[0]!));
    expect(kinds.size).toBeGreaterThan(15);
    expect(a.filter((m) => Buffer.from(m.bytes).equals(Buffer.from(src))).length).toBeLessThan(3);
  });
});
