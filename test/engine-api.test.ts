/** Engine behaviour on a small model the test builds: taps, batch splitting, profiling, bad input. */
import { describe, expect, it } from 'vitest';
import { Model } from '../src/runtime/model.js';
import { chromeTrace, profileTable } from '../src/runtime/profiler.js';
import { DeviceError, GraphError, InputError, ModelFormatError, UnsupportedOperatorError, XaiError } from '../src/runtime/errors.js';
import { buildResNet50 } from '../tools/model-zoo.js';
import { GraphBuilder } from '../tools/onnx-writer.js';
import { mutatedModels } from './helpers/fuzz.js';
import { compareLogits, randomInput, runOrt } from './helpers/ort.js';
import { testGpu } from './helpers/gpu.js';
import { createNodeGpu } from '../src/node.js';
import { onnx } from '../tools/onnx-pb/onnx.js';

const small = buildResNet50({ width: 0.0625, inputSize: 32, numClasses: 10, seed: 21, bn: 'separate' });

/** The same model with an intermediate tensor also declared as a graph output (for onnxruntime). */
function withExtraOutput(bytes: Uint8Array, name: string): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  (m.graph!.output ??= []).push(onnx.ValueInfoProto.create({ name }));
  return onnx.ModelProto.encode(m).finish();
}

describe('engine API', () => {
  it('keeps an intermediate tensor (a tap) that matches onnxruntime, with fusion still applied elsewhere', async () => {
    const gpu = await testGpu();
    const model = await Model.load(small.bytes, { gpu });
    try {
      const names = [...model.tensorShapes(1)].filter(([, s]) => s.length === 4).map(([n]) => n);
      const tap = names[Math.floor(names.length / 2)]!;
      const x = randomInput([2, 3, 32, 32], 5);
      const r = await model.run({ [small.inputName]: { dtype: 'float32', shape: x.dims, data: x.data } }, { keep: [tap] });
      const ort = await runOrt(withExtraOutput(small.bytes, tap), x, { outputNames: [small.outputName, tap] });
      const kept = r.kept[tap]!;
      expect(kept.shape).toEqual(ort[1]!.dims);
      expect(compareLogits(kept.data, ort[1]!.data).maxRelErr).toBeLessThan(1e-3);
      expect(compareLogits(r.outputs[small.outputName]!.data, ort[0]!.data, 10).maxRelErr).toBeLessThan(1e-3);
    } finally {
      model.destroy();
    }
  });

  it('splits a batch that exceeds the storage-binding limit instead of rejecting it', async () => {
    const gpu = await testGpu();
    const x = randomInput([5, 3, 32, 32], 6);
    const feed = { [small.inputName]: { dtype: 'float32' as const, shape: x.dims, data: x.data } };
    const full = await Model.load(small.bytes, { gpu });
    const whole = (await full.run(feed)).outputs[small.outputName]!;
    full.destroy();
    // A device whose binding limit fits about two images' largest activation.
    const perImage = 4 * Math.max(3 * 32 * 32, ...[...full.tensorShapes(1).values()].map((s) => s.reduce((a, b) => a * b, 1)));
    const tight = { ...gpu, traits: { ...gpu.traits, maxStorageBufferBindingSize: perImage * 2 + 64 } };
    const split = await Model.load(small.bytes, { gpu: tight });
    try {
      expect(split.maxBatch(5)).toBeLessThan(5);
      const parts = (await split.run(feed)).outputs[small.outputName]!;
      expect(parts.shape).toEqual(whole.shape);
      expect(compareLogits(parts.data, whole.data).maxAbsErr).toBeLessThan(1e-5);
    } finally {
      split.destroy();
    }
  });

  it('profiles GPU time per kernel and writes a Chrome trace', async () => {
    const gpu = await testGpu();
    const model = await Model.load(small.bytes, { gpu });
    try {
      const x = randomInput([1, 3, 32, 32], 7);
      const { profile } = await model.run({ [small.inputName]: { dtype: 'float32', shape: x.dims, data: x.data } }, { profile: true });
      expect(profile).toBeDefined();
      expect(profile!.kernels.length).toBeGreaterThan(10);
      expect(profile!.byOp.map((r) => r.opType)).toContain('Conv');
      expect(profile!.totalMs).toBeGreaterThan(0);
      expect(profileTable(profile!)).toMatch(/\| Conv \|/);
      const trace = JSON.parse(chromeTrace(profile!)) as { traceEvents: { ph: string; dur?: number }[] };
      expect(trace.traceEvents.filter((e) => e.ph === 'X')).toHaveLength(profile!.kernels.length);
    } finally {
      model.destroy();
    }
  });

  it('rejects bad input with typed errors and stays usable', async () => {
    const gpu = await testGpu();
    await expect(Model.load(small.bytes.slice(0, small.bytes.length >> 1), { gpu })).rejects.toBeInstanceOf(ModelFormatError);
    await expect(Model.load(new TextEncoder().encode('definitely not an onnx file'), { gpu })).rejects.toBeInstanceOf(ModelFormatError);
    const g = new GraphBuilder('unsupported', 13);
    g.input('x', [1, 3, 8, 8]);
    const a = g.op('NonMaxSuppressionish', ['x']);
    const b = g.op('Relu', [a]);
    const c = g.op('FancyOp', [b]);
    g.output(c);
    const err = await Model.load(g.toBytes(), { gpu }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedOperatorError);
    expect((err as Error).message).toMatch(/NonMaxSuppressionish/);
    expect((err as Error).message).toMatch(/FancyOp/);
    const model = await Model.load(small.bytes, { gpu });
    try {
      const name = small.inputName;
      await expect(model.run({ [name]: { dtype: 'float32', shape: [1, 3, 31, 32], data: new Float32Array(3 * 31 * 32) } })).rejects.toBeInstanceOf(InputError);
      await expect(model.run({ [name]: { dtype: 'int64', shape: [1, 3, 32, 32], data: new Float64Array(3 * 32 * 32) } })).rejects.toBeInstanceOf(InputError);
      await expect(model.run({})).rejects.toBeInstanceOf(InputError);
      await expect(model.run({ nope: new Float32Array(3) })).rejects.toBeInstanceOf(InputError);
      await expect(model.run({ [name]: { dtype: 'float32', shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32) } }, { keep: ['no such tensor'] })).rejects.toBeInstanceOf(InputError);
      const x = randomInput([1, 3, 32, 32], 8);
      const r = await model.run({ [name]: { dtype: 'float32', shape: x.dims, data: x.data } });
      expect(r.outputs[small.outputName]!.data.every(Number.isFinite)).toBe(true);
    } finally {
      model.destroy();
    }
  });

  it('reports a lost device as a typed error instead of hanging', async () => {
    const gpu = await createNodeGpu();
    const model = await Model.load(small.bytes, { gpu });
    gpu.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const x = randomInput([1, 3, 32, 32], 9);
    await expect(model.run({ [small.inputName]: { dtype: 'float32', shape: x.dims, data: x.data } })).rejects.toBeInstanceOf(DeviceError);
  });

  it('survives a few hundred mutated model files with typed errors only', async () => {
    const gpu = await testGpu();
    const tiny = buildResNet50({ width: 0.03125, inputSize: 16, numClasses: 4, seed: 3 });
    const mutants = mutatedModels(tiny.bytes, 300, 42);
    let loaded = 0;
    for (const bytes of mutants) {
      try {
        const m = await Model.load(bytes, { gpu, warmup: false });
        loaded++;
        try {
          const shape = m.inputShapes(1).values().next().value as number[];
          if (shape.reduce((a, b) => a * b, 1) > 1e7) continue;
          const out = await m.run({ [m.inputs[0]!.name]: { dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5) } });
          expect(Object.keys(out.outputs).length).toBeGreaterThan(0);
        } finally {
          m.destroy();
        }
      } catch (e) {
        if (!(e instanceof XaiError)) throw new Error(`untyped error: ${(e as Error).stack}`);
      }
    }
    expect(loaded).toBeLessThan(mutants.length);
    void GraphError;
  }, 300_000);
});
