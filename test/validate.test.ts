/**
 * Load-time model validation (src/runtime/validate.ts and the schemas in the kernel files): each
 * mutated model below loaded and computed a wrong answer at a8bce46; onnxruntime-node refuses it
 * (the oracle), and so must we, with a typed error naming the node and what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { Model } from '../src/runtime/model.js';
import { GraphError, ModelFormatError, UnsupportedOperatorError, XaiError } from '../src/runtime/errors.js';
import { ALL_OPS, defaultRegistry } from '../src/kernels/all.js';
import { OpRegistry } from '../src/kernels/registry.js';
import type { OpDef } from '../src/kernels/types.js';
import { A, GraphBuilder, decodeModel, encodeModel, heWeights, Rng, type Attrs } from '../tools/onnx-writer.js';
import { createOrtSession, randomInput, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';

interface Spec {
  opset?: number;
  /** Overrides of the conv node. */
  conv?: { op?: string; inputs?: (w: string, b: string) => string[]; attrs?: Attrs };
  /** Extra nodes after the conv; the last output is the graph output. */
  tail?: (g: GraphBuilder, y: string) => string;
  weight?: (w: Float32Array) => void;
}

/** x [1,2,8,8] -> Conv(3x3, 3 channels, pads 1) -> Relu -> y. */
function model(spec: Spec = {}): Uint8Array {
  const g = new GraphBuilder('validate', spec.opset ?? 13);
  const rng = new Rng(5);
  const x = g.input('x', [1, 2, 8, 8]);
  const wData = heWeights(rng, [3, 2, 3, 3], 18);
  spec.weight?.(wData);
  const w = g.initializer('w', [3, 2, 3, 3], wData);
  const b = g.initializer('b', [3], Float32Array.from([0.1, -0.2, 0.3]));
  const c = spec.conv ?? {};
  const [conv] = g.node(c.op ?? 'Conv', c.inputs ? c.inputs(w, b) : [x, w, b], 1, c.attrs ?? { pads: [1, 1, 1, 1] }, { name: 'conv0' });
  let y = g.node('Relu', [conv!], 1, {}, { name: 'relu0' })[0]!;
  if (spec.tail) y = spec.tail(g, y);
  g.output(y);
  return g.toBytes();
}

async function loadError(bytes: Uint8Array, opts: { allowNonFiniteWeights?: boolean } = {}): Promise<unknown> {
  const gpu = await testGpu();
  try {
    const m = await Model.load(bytes, { gpu, warmup: false, tune: false, ...opts });
    m.destroy();
    return undefined;
  } catch (e) {
    return e;
  }
}

async function ortRefuses(bytes: Uint8Array): Promise<boolean> {
  try {
    await createOrtSession(bytes, { graphOptimizationLevel: 'disabled' });
    return false;
  } catch {
    return true;
  }
}

/** Both refuse; ours is a GraphError (or `type`) whose message matches every pattern. */
async function expectRefused(bytes: Uint8Array, patterns: RegExp[], type: new (...a: never[]) => XaiError = GraphError): Promise<void> {
  expect(await ortRefuses(bytes)).toBe(true);
  const err = await loadError(bytes);
  expect(err).toBeInstanceOf(type);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
}

describe('model validation at load', () => {
  it('loads the unmutated model, and onnxruntime agrees with it', async () => {
    const bytes = model();
    expect(await loadError(bytes)).toBeUndefined();
    expect(await ortRefuses(bytes)).toBe(false);
  });

  it('refuses a Conv rewritten as a two-input Sqrt, and an Add rewritten as a two-input Abs', async () => {
    await expectRefused(model({ conv: { op: 'Sqrt', inputs: () => ['x', 'w'], attrs: {} } }), [/'conv0' \(Sqrt\) has 2 inputs, opset 13 allows 1/]);
    await expectRefused(model({ tail: (g, y) => g.node('Abs', [y, 'b'], 1, {}, { name: 'bias_as_abs' })[0]! }), [/'bias_as_abs' \(Abs\) has 2 inputs/]);
  });

  it('refuses extra inputs, missing required inputs and unknown attributes', async () => {
    await expectRefused(model({ conv: { inputs: (w, b) => ['x', w, b, b] } }), [/'conv0' \(Conv\) has 4 inputs, opset 13 allows 2 to 3/]);
    await expectRefused(model({ conv: { inputs: (w) => ['', w] } }), [/'conv0' \(Conv\) leaves required input 0 empty/]);
    await expectRefused(model({ conv: { attrs: { pads: [1, 1, 1, 1], foo: 7 } } }), [/'conv0' \(Conv\) has unknown attribute 'foo'/]);
    // An attribute of another opset: Squeeze's axes became an input at 13.
    await expectRefused(model({ tail: (g, y) => g.node('Squeeze', [y], 1, { axes: [0] }, { name: 'sq' })[0]! }), [/'sq' \(Squeeze\) has unknown attribute 'axes'/]);
  });

  it('refuses attributes of the wrong type or out of their range', async () => {
    await expectRefused(model({ conv: { attrs: { pads: [1, 1, 1, 1], group: A.float(1) } } }), [/'conv0' \(Conv\) attribute 'group' is float, must be int/]);
    await expectRefused(model({ conv: { attrs: { pads: A.floats([1, 1, 1, 1]) } } }), [/attribute 'pads' is floats, must be ints/]);
    await expectRefused(model({ conv: { attrs: { pads: [1, 1, 1, 1], strides: [0, 1] } } }), [/attribute 'strides' has value 0/]);
    await expectRefused(model({ conv: { attrs: { auto_pad: 'SAME_UPPERR' } } }), [/attribute 'auto_pad' is 'SAME_UPPERR', must be one of/]);
  });

  it('refuses Conv dilations of 2^31, 2^32 and 2^32+1 with auto_pad SAME_UPPER (wrapped in the uniforms before)', async () => {
    for (const d of [2 ** 31, 2 ** 32, 2 ** 32 + 1]) {
      const err = await loadError(model({ conv: { attrs: { auto_pad: 'SAME_UPPER', dilations: [d, 1] } } }));
      expect(err).toBeInstanceOf(GraphError);
      expect((err as Error).message).toMatch(new RegExp(`'conv0' \\(Conv\\) attribute 'dilations' has value ${d}, outside 1\\.\\.2147483647`));
    }
    // In range as an attribute, but the padded window no longer fits the kernels' i32 offsets.
    const err = await loadError(model({ conv: { attrs: { auto_pad: 'SAME_UPPER', dilations: [2 ** 30, 1] } } }));
    expect(err).toBeInstanceOf(GraphError);
    expect((err as Error).message).toMatch(/outside the 32-bit integer range/);
  });

  it('refuses a node output that is defined twice, and names every problem in one error', async () => {
    const bytes = model({
      conv: { attrs: { pads: [1, 1, 1, 1], foo: 1 } },
      tail: (g, y) => { g.node('Relu', ['x'], ['conv_0'], {}, { name: 'again' }); return y; },
    });
    await expectRefused(bytes, [/2 problems/, /node 'again' \(Relu\) writes '.*', which is already the output of node 'conv0'/, /unknown attribute 'foo'/]);
  });

  it('names unsupported operators beside other problems, and alone gives UnsupportedOperatorError', async () => {
    const both = model({ conv: { attrs: { pads: [1, 1, 1, 1], foo: 1 } }, tail: (g, y) => g.node('FancyOp', [y], 1, {}, { name: 'fancy' })[0]! });
    const err = await loadError(both);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as Error).message).toMatch(/unknown attribute 'foo'.*node 'fancy' uses unsupported operator FancyOp/);
    expect(await loadError(model({ tail: (g, y) => g.node('FancyOp', [y], 1, {}, { name: 'fancy' })[0]! }))).toBeInstanceOf(UnsupportedOperatorError);
  });

  it('refuses raw_data longer than the shape needs with a ModelFormatError', async () => {
    const m = decodeModel(model());
    const w = m.graph!.initializer!.find((t) => t.name === 'b')!;
    const raw = new Uint8Array(w.rawData!.length + 4);
    raw.set(w.rawData!);
    w.rawData = raw;
    await expectRefused(encodeModel(m), [/tensor 'b' has 16 bytes of raw_data, shape \[3\] float32 needs exactly 12/], ModelFormatError);
  });

  it('refuses NaN or infinite weights naming the tensor and first index, unless allowed', async () => {
    const bytes = model({ weight: (w) => { w[7] = NaN; w[20] = Infinity; } });
    const err = await loadError(bytes);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(/weight 'w' holds NaN at index 7 \(and 1 more non-finite values\)/);
    expect(await loadError(bytes, { allowNonFiniteWeights: true })).toBeUndefined();
    // onnxruntime computes NaN from such weights, which our GPU's max() may turn into 0: the reason to refuse.
    const ort = (await runOrt(bytes, randomInput([1, 2, 8, 8], 3)))[0]!.data;
    expect(ort.some(Number.isNaN)).toBe(true);
  });

  it('refuses a Conv bias of the wrong size (onnxruntime fails when it runs; we read the first values before)', async () => {
    const bytes = model({ conv: { inputs: (w) => ['x', w, 'wide_b'] } , tail: (g, y) => { g.initializer('wide_b', [6], Float32Array.from([1, 2, 3, 4, 5, 6])); return y; } });
    const err = await loadError(bytes);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as Error).message).toMatch(/Conv 'conv0': bias B has shape \[6\], must be \[3\]/);
    await expect(runOrt(bytes, randomInput([1, 2, 8, 8], 5))).rejects.toThrow(/bias/);
  });

  it('refuses a negative BatchNormalization variance (NaN in onnxruntime, zeroed by a GPU Relu before)', async () => {
    const bytes = model({ tail: (g, y) => {
      const c = (n: string, v: number[]) => g.initializer(n, [3], Float32Array.from(v));
      const bn = g.node('BatchNormalization', [y, c('s', [1, 1, 1]), c('bb', [0, 0, 0]), c('mean', [0.1, 0.2, 0.3]), c('var', [1, -0.5, 2])], 1, {}, { name: 'bn0' })[0]!;
      return g.node('Relu', [bn], 1, {}, { name: 'relu1' })[0]!;
    } });
    const err = await loadError(bytes);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as Error).message).toMatch(/BatchNormalization 'bn0': var \+ epsilon is -0\.49.* at channel 1/);
    const ort = (await runOrt(bytes, randomInput([1, 2, 8, 8], 4)))[0]!.data;
    expect(ort.slice(64, 128).every(Number.isNaN)).toBe(true);
  });

  it('refuses a graph input dimension beyond i32 before any allocation', async () => {
    const m = decodeModel(model());
    m.graph!.input![0]!.type!.tensorType!.shape!.dim![3]!.dimValue = 2 ** 40;
    const err = await loadError(encodeModel(m));
    expect(err).toBeInstanceOf(GraphError);
    expect((err as Error).message).toMatch(/graph input 'x' declares dimension 1099511627776/);
  });

  it('checks an op without a schema only generically, so a new family loads before its schema is written', async () => {
    const relu = ALL_OPS.find((d) => d.opTypes.includes('Relu'))!;
    const bare: OpDef = { ...relu, opTypes: ['Relu'], schema: undefined };
    const registry = new OpRegistry([...ALL_OPS.filter((d) => d !== relu), bare, { ...relu, opTypes: relu.opTypes.filter((t) => t !== 'Relu') }]);
    const gpu = await testGpu();
    const bytes = model({ tail: (g, y) => g.node('Relu', [y], 1, { alpha: A.float(2) }, { name: 'relu_attr' })[0]! });
    const m = await Model.load(bytes, { gpu, warmup: false, tune: false }, registry);
    m.destroy();
    await expect(Model.load(bytes, { gpu, warmup: false, tune: false })).rejects.toThrow(/'relu_attr' \(Relu\) has unknown attribute 'alpha'/);
  });

  it('every registered op type declares a schema, in the domain it is registered for', () => {
    // Per OpDef, not per op type: com.microsoft QuantizeLinear is its own registration beside ai.onnx's.
    const missing = ALL_OPS.flatMap((d) => d.opTypes.filter((t) => !d.schema?.[t]).map((t) => (d.domain ? `${d.domain}.${t}` : t)));
    expect(missing).toEqual([]);
    // And each is what the registry finds for its (domain, op type): the schema validation reads is this one.
    for (const d of ALL_OPS) for (const t of d.opTypes) expect(defaultRegistry.find({ opType: t, domain: d.domain ?? '' }), `${d.domain ?? ''}:${t}`).toBe(d);
    for (const d of ALL_OPS) for (const [t, versions] of Object.entries(d.schema ?? {})) {
      for (const v of versions) {
        expect(v.inputs[0]).toBeLessThanOrEqual(v.inputs[1]);
        expect(v.outputs[0]).toBeLessThanOrEqual(v.outputs[1]);
        for (const r of v.required ?? []) expect(Object.keys(v.attrs ?? {}), `${t}@${v.since} requires ${r}`).toContain(r);
        for (const i of v.optional ?? []) expect(i, `${t}@${v.since} optional input ${i}`).toBeLessThan(v.inputs[0]);
      }
    }
  });
});

interface QSpec {
  /** Inputs of the QLinearConv, given its usual nine. */
  conv?: (ins: string[]) => string[];
  /** Attributes of the com.microsoft QLinearAdd. */
  add?: Attrs;
  /** Inputs of a com.microsoft QLinearConcat (axis 1) after the QLinearAdd, given its output. */
  concat?: (s: string) => string[];
}

/**
 * x [1,2,8,8] float -> QuantizeLinear -> QLinearConv(3x3, 3 channels, int32 bias) -> com.microsoft
 * QLinearAdd of the result with itself -> DequantizeLinear -> y: the QOperator form onnxruntime's
 * quantiser writes, small.
 */
function qmodel(spec: QSpec = {}): Uint8Array {
  const g = new GraphBuilder('validate_q', 13);
  const rng = new Rng(9);
  const x = g.input('x', [1, 2, 8, 8]);
  const scalar = (name: string, v: number): string => g.initializer(name, [], Float32Array.from([v]));
  const zp = (name: string, v: number): string => g.initializer(name, [], Uint8Array.from([v]));
  const xs = scalar('x_scale', 0.02);
  const xz = zp('x_zp', 128);
  const xq = g.node('QuantizeLinear', [x, xs, xz], ['xq'], {}, { name: 'quant' })[0]!;
  const w = g.initializer('w', [3, 2, 3, 3], Int8Array.from({ length: 54 }, () => Math.round(rng.next() * 200 - 100)));
  const bias = g.initializer('bias', [3], Int32Array.from([40, -25, 10]));
  const convIns = [xq, xs, xz, w, scalar('w_scale', 0.01), g.initializer('w_zp', [], Int8Array.from([0])), scalar('c_scale', 0.05), zp('c_zp', 120), bias];
  const [c] = g.node('QLinearConv', spec.conv ? spec.conv(convIns) : convIns, ['c'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'qconv' });
  const [s] = g.node('QLinearAdd', [c!, 'c_scale', 'c_zp', c!, 'c_scale', 'c_zp', scalar('s_scale', 0.1), zp('s_zp', 125)], ['s'], spec.add ?? {}, { name: 'qadd', domain: 'com.microsoft' });
  const last = spec.concat ? g.node('QLinearConcat', spec.concat(s!), ['cat'], { axis: 1 }, { name: 'qcat', domain: 'com.microsoft' })[0]! : s!;
  const [y] = g.node('DequantizeLinear', [last, 's_scale', 's_zp'], ['y'], {}, { name: 'dequant' });
  g.output(y!);
  return g.toBytes({ extraOpsets: { 'com.microsoft': 1 } });
}

describe('model validation of QOperator (quantised) ops', () => {
  it('loads the unmutated QLinearConv + com.microsoft QLinearAdd model, as onnxruntime does', async () => {
    const bytes = qmodel();
    const gpu = await testGpu();
    const m = await Model.load(bytes, { gpu, warmup: false, tune: false });
    try {
      const feed = randomInput([1, 2, 8, 8], 6);
      const ours = (await m.run({ x: { dtype: 'float32', shape: [1, 2, 8, 8], data: feed.data.slice() } })).outputs['y']!.data;
      const ref = (await runOrt(bytes, feed))[0]!.data;
      // Levels of s_scale 0.1: equal, or one level apart where a float32 sum meets a rounding boundary.
      expect(ours.length).toBe(ref.length);
      for (let i = 0; i < ref.length; i++) expect(Math.abs(ours[i]! - ref[i]!)).toBeLessThanOrEqual(0.1 + 1e-6);
    } finally {
      m.destroy();
    }
  });

  it('refuses a QLinearConv with a wrong input count and a QLinearAdd with an unknown attribute, naming the node', async () => {
    // y_zero_point dropped: 7 inputs (8 or 9 allowed), one too many: 10.
    await expectRefused(qmodel({ conv: (ins) => ins.slice(0, 7) }), [/node 'qconv' \(QLinearConv\) has 7 inputs, opset 13 allows 8 to 9/]);
    await expectRefused(qmodel({ conv: (ins) => [...ins, 'bias'] }), [/node 'qconv' \(QLinearConv\) has 10 inputs, opset 13 allows 8 to 9/]);
    // A required zero point left empty (onnxruntime: "marked single but has an empty string").
    await expectRefused(qmodel({ conv: (ins) => ins.map((v, i) => (i === 5 ? '' : v)) }), [/node 'qconv' \(QLinearConv\) leaves required input 5 empty/]);
    await expectRefused(qmodel({ add: { alpha: A.float(0.5) } }), [/node 'qadd' \(QLinearAdd\) has unknown attribute 'alpha' \(com\.microsoft allows none\)/]);
  });

  it('runs QLinearConcat of (tensor, scale, zero point) triples, and refuses an incomplete triple', async () => {
    const whole = qmodel({ concat: (s) => ['s_scale', 's_zp', s, 's_scale', 's_zp', 'c', 'c_scale', 'c_zp'] });
    expect(await ortRefuses(whole)).toBe(false);
    expect(await loadError(whole)).toBeUndefined();
    // The second tensor's scale and zero point missing: it was dropped from the concatenation before.
    await expectRefused(qmodel({ concat: (s) => ['s_scale', 's_zp', s, 's_scale', 's_zp', 'c'] }), [/QLinearConcat 'qcat' has 6 inputs: .* triples/]);
  });
});
