/**
 * The kernel tuner on a registry whose Conv offers a fixed candidate list, one of them wrong on
 * purpose: timing, rejection, caching in memory and in stores, budgets and precision keys.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../src/runtime/model.js';
import { createNodeGpu, fileTuningStore } from '../src/node.js';
import { OpRegistry } from '../src/kernels/registry.js';
import { ALL_OPS } from '../src/kernels/all.js';
import { convOpWith, convGeometry, chooseConvVariant, type ConvVariant } from '../src/kernels/conv.js';
import type { OpDef, TensorArg } from '../src/kernels/types.js';
import { hostTensor } from '../src/runtime/tensor.js';
import { adapterKeyOf } from '../src/runtime/device.js';
import { disagreement, pickVariant, precisionKey, revertToStatic, tuningCacheFor } from '../src/runtime/tuner.js';
import { localStorageTuningStore, memoryTuningStore, parseTuningFile } from '../src/runtime/tuning-cache.js';
import type { GpuContext } from '../src/runtime/device.js';
import { GraphBuilder, Rng, heWeights } from '../tools/onnx-writer.js';

type TestVariant = ConvVariant | 'wrong-bias';
/** Every (key, variant) the plans' builds received from the tuner, newest last. */
const built: [string, TestVariant | undefined][] = [];

/** Conv whose tune spec lists the static choice, two other correct variants and a wrong one. */
function testConv(): OpDef {
  const base = convOpWith();
  const key = (inputs: readonly (TensorArg | undefined)[]) => `test ${inputs[0]!.shape.join('x')} ${inputs[1]!.shape.join('x')}`;
  const variants = (traits: Parameters<typeof chooseConvVariant>[0], inputs: readonly (TensorArg | undefined)[], node: Parameters<typeof convGeometry>[0]): TestVariant[] => {
    const g = convGeometry(node, inputs[0]!.shape, inputs[1]!.shape);
    return [chooseConvVariant(traits, g), { kind: 'reg', pixels: 4, chan4: 1 }, { kind: 'tiled', tm: 32, tn: 32 }, 'wrong-bias'];
  };
  return {
    ...base,
    build: (node, inputs, outputs, ctx) => {
      const v = ctx.variant?.(key(inputs)) as TestVariant | undefined;
      built.push([key(inputs), v]);
      if (v !== 'wrong-bias') return convOpWith(v).build!(node, inputs, outputs, ctx);
      const b = inputs[2]!.constant!;
      const shifted = hostTensor('float32', b.shape, Array.from(b.data, (x) => x + 0.5));
      return convOpWith().build!(node, [inputs[0], inputs[1], { shape: b.shape, constant: shifted }, ...inputs.slice(3)], outputs, ctx);
    },
    tune: {
      key: (_node, inputs) => key(inputs),
      candidates: (node, inputs, _outputs, traits) => variants(traits, inputs, node),
      describe: (v) => JSON.stringify(v),
    },
  };
}

// Only the test Conv is tunable here, so the counts below are about its candidates alone (the real
// Gemm tune spec would add the classifier head as a third geometry).
const untuned = ALL_OPS.filter((d) => !d.opTypes.includes('Conv')).map(({ tune: _tune, ...d }) => d);
const registry = new OpRegistry([...untuned, testConv()]);

/** Two conv geometries (one used twice) and a classifier head. */
function smallNet(): Uint8Array {
  const rng = new Rng(3);
  const g = new GraphBuilder('tune-net', 13);
  g.input('x', [1, 3, 16, 16]);
  const c1 = g.op('Conv', ['x', g.initializer('w1', [8, 3, 3, 3], heWeights(rng, [8, 3, 3, 3], 27)), g.initializer('b1', [8], Float32Array.from({ length: 8 }, () => rng.normal() * 0.1))], { pads: [1, 1, 1, 1] });
  const r1 = g.op('Relu', [c1]);
  const c2 = g.op('Conv', [r1, g.initializer('w2', [8, 8, 3, 3], heWeights(rng, [8, 8, 3, 3], 72)), g.initializer('b2', [8], Float32Array.from({ length: 8 }, () => rng.normal() * 0.1))], { pads: [1, 1, 1, 1] });
  const r2 = g.op('Relu', [c2]);
  const c3 = g.op('Conv', [r2, g.initializer('w3', [8, 8, 3, 3], heWeights(rng, [8, 8, 3, 3], 72)), g.initializer('b3', [8], Float32Array.from({ length: 8 }, () => rng.normal() * 0.1))], { pads: [1, 1, 1, 1] });
  const gap = g.op('GlobalAveragePool', [c3]);
  const f = g.op('Flatten', [gap]);
  g.node('Gemm', [f, g.initializer('wf', [5, 8], heWeights(rng, [5, 8], 8)), g.initializer('bf', [5], new Float32Array(5))], ['y'], { transB: 1 });
  g.output('y');
  return g.toBytes();
}

const input = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.7) + 0.1);
const contexts: GpuContext[] = [];
async function gpuWith(store: ReturnType<typeof memoryTuningStore> | null): Promise<GpuContext> {
  const g = await createNodeGpu({ tuningStore: store });
  contexts.push(g);
  return g;
}
afterAll(() => { for (const g of contexts) g.destroy(); });

async function logits(m: Model): Promise<Float32Array> {
  const { outputs } = await m.run({ x: { dtype: 'float32', shape: [1, 3, 16, 16], data: input } });
  return outputs.y!.data as Float32Array;
}

describe('kernel tuner', () => {
  const store = memoryTuningStore();

  it('times every candidate, rejects one that computes something else, and the tuned model matches the static one', async () => {
    const gpu = await gpuWith(store);
    const bytes = smallNet();
    const tuned = await Model.load(bytes, { gpu, tune: { budgetMs: 120_000 } }, registry);
    const report = tuned.tuneReports[0]!;
    expect(report.geometries.map((g) => g.nodes.length).sort()).toEqual([1, 2]);
    for (const g of report.geometries) {
      expect(g.source).toBe('timed');
      expect(g.candidates).toBe(4);
      expect(g.timed + g.rejected.length).toBe(4);
      expect(g.rejected.map((r) => r.variant)).toEqual(['"wrong-bias"']);
      expect(g.rejected[0]!.reason).toMatch(/differs from the static choice/);
      expect(g.choice).not.toBe('"wrong-bias"');
      expect(g.ms).toBeGreaterThan(0);
      expect(g.ms).toBeLessThanOrEqual(g.staticMs);
    }
    expect(report.timed).toBe(2);
    expect(report.timer).toBe(gpu.hasTimestamps ? 'timestamp-query' : 'host-timer');
    const fixed = await Model.load(bytes, { gpu, tune: false }, registry);
    const a = await logits(tuned); const b = await logits(fixed);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(b[i]!)));
    // Every persisted choice is complete and names a candidate.
    const saved = Object.values(store.file.adapters[gpu.adapterKey]!.entries);
    expect(saved).toHaveLength(2);
    for (const c of saved) { expect(c.complete).toBe(true); expect(c.variant).not.toBe('wrong-bias'); }
    tuned.destroy(); fixed.destroy();
  });

  it('a second model on the device, and a new process with the same store, reuse the choices', async () => {
    const gpu = await gpuWith(store);
    const m = await Model.load(smallNet(), { gpu }, registry);
    const r = m.tuneReports[0]!;
    expect(r.fromCache).toBe(2);
    expect(r.timed).toBe(0);
    // What the cache holds is what the plans build.
    m.destroy();
    const m2 = await Model.load(smallNet(), { gpu, warmup: false }, registry);
    built.length = 0;
    m2.plan(m2.inputShapes(1));
    expect(built).toHaveLength(3);
    for (const [k, v] of built) {
      const g = r.geometries.find((x) => x.key === k)!;
      expect(JSON.stringify(v)).toBe(g.choice);
    }
    // A different batch is a different geometry: tuned on its first use.
    const r8 = await m2.tune(8);
    expect(r8.timed).toBe(2);
    m2.destroy();
  });

  it('drops stored choices that are not among the current candidates, and re-times them', async () => {
    const s = memoryTuningStore();
    const gpu = await gpuWith(s);
    const m0 = await Model.load(smallNet(), { gpu, tune: { budgetMs: 120_000 } }, registry);
    m0.destroy();
    const entries = s.file.adapters[gpu.adapterKey]!.entries;
    const k = Object.keys(entries)[0]!;
    entries[k] = { ...entries[k]!, variant: { kind: 'reg', pixels: 8, chan4: 8, lanes: 16 }, label: 'from an older release' };
    const gpu2 = await gpuWith(s);
    const m = await Model.load(smallNet(), { gpu: gpu2, tune: { budgetMs: 120_000 } }, registry);
    const r = m.tuneReports[0]!;
    expect(r.fromCache).toBe(1);
    expect(r.timed).toBe(1);
    expect(r.geometries.every((g) => g.choice !== 'from an older release')).toBe(true);
    m.destroy();
  });

  it('a new batch is tuned on its first use by planFor or run, once, and its plan builds the choices', async () => {
    const gpu = await gpuWith(memoryTuningStore());
    const m = await Model.load(smallNet(), { gpu, tune: { budgetMs: 120_000 } }, registry);
    expect(m.tuneReports).toHaveLength(1);
    built.length = 0;
    await m.planFor(m.inputShapes(4));
    expect(m.tuneReports).toHaveLength(2);
    const r4 = m.tuneReports[1]!;
    expect(r4.timed).toBe(2);
    expect(r4.geometries.every((g) => g.key.includes(' 4x'))).toBe(true);
    // The tuner builds every candidate; the plan's own three conv builds come last.
    const planBuilds = built.slice(-3);
    expect(planBuilds.every(([k]) => k.includes(' 4x'))).toBe(true);
    for (const [k, v] of planBuilds) expect(JSON.stringify(v)).toBe(r4.geometries.find((x) => x.key === k)!.choice);
    // Running batch 4 (same shapes) and planning it again tune nothing more; run at batch 2 tunes batch 2.
    const x4 = Float32Array.from({ length: 4 * input.length }, (_, i) => input[i % input.length]!);
    await m.run({ x: { dtype: 'float32', shape: [4, 3, 16, 16], data: x4 } });
    await m.planFor(m.inputShapes(4));
    expect(m.tuneReports).toHaveLength(2);
    await m.run({ x: { dtype: 'float32', shape: [2, 3, 16, 16], data: x4.subarray(0, 2 * input.length) } });
    expect(m.tuneReports).toHaveLength(3);
    expect(m.tuneReports[2]!.geometries.every((g) => g.key.includes(' 2x'))).toBe(true);
    m.destroy();
    const fixed = await Model.load(smallNet(), { gpu, tune: false }, registry);
    await fixed.planFor(fixed.inputShapes(4));
    expect(fixed.tuneReports).toHaveLength(0);
    fixed.destroy();
  });

  it('choices that differ from the static ones are checked on the whole pass, and plans build what the report says', async () => {
    // A static pick that is slow on purpose (the plain tiled kernel), so the tuner picks something else.
    const slowStatic: OpDef = {
      ...testConv(),
      tune: { ...testConv().tune!, candidates: (node, inputs, outputs, traits) => [{ kind: 'tiled', tm: 32, tn: 32 }, ...testConv().tune!.candidates(node, inputs, outputs, traits, { f16: false })] },
    };
    const reg = new OpRegistry([...untuned, slowStatic]);
    const gpu = await gpuWith(memoryTuningStore());
    const m = await Model.load(smallNet(), { gpu, tune: { budgetMs: 120_000 }, warmup: false }, reg);
    const r = m.tuneReports[0]!;
    const timedChanged = r.geometries.filter((g) => g.source === 'timed' && g.staticMs > 0 && g.choice !== g.staticChoice);
    if (r.wholePass === undefined) {
      // Nothing new beat the static pick by 5 %: no whole-pass check was needed.
      expect(timedChanged).toHaveLength(0);
    } else {
      expect('kept' in r.wholePass).toBe(true);
      if ('kept' in r.wholePass) {
        expect(r.wholePass.pairs).toBeGreaterThanOrEqual(3);
        expect(r.wholePass.staticMs).toBeGreaterThan(0);
        expect(r.wholePass.tunedMs).toBeGreaterThan(0);
        expect(r.wholePass.kept).toBe(r.wholePass.tunedMs < r.wholePass.staticMs);
        // Rejected on the whole pass: every geometry reports (and the cache holds) the static pick.
        if (!r.wholePass.kept) expect(r.geometries.every((g) => g.choice === g.staticChoice)).toBe(true);
      }
    }
    built.length = 0;
    m.plan(m.inputShapes(1));
    expect(built).toHaveLength(3);
    for (const [k, v] of built) expect(JSON.stringify(v)).toBe(r.geometries.find((x) => x.key === k)!.choice);
    m.destroy();
  });

  it('revertToStatic puts the static pick back in the cache for the named geometries only', async () => {
    const gpu = await gpuWith(memoryTuningStore());
    const m = await Model.load(smallNet(), { gpu, tune: { budgetMs: 120_000, verify: false }, warmup: false }, registry);
    const g = m.specialize(m.inputShapes(1), new Set());
    const cache = tuningCacheFor(gpu);
    const [a, b] = m.tuneReports[0]!.geometries;
    // Pretend both geometries chose a non-static candidate, then revert only the first.
    for (const x of [a!, b!]) {
      const k = precisionKey(x.key, false);
      cache.set(k, { ...cache.get(k)!, variant: { kind: 'reg', pixels: 4, chan4: 1 }, label: 'reg 4x4' }, true);
    }
    await revertToStatic(gpu, g, new Set([a!.key]), false);
    expect(cache.get(precisionKey(a!.key, false))!.label).toBe(a!.staticChoice);
    expect(cache.get(precisionKey(a!.key, false))!.variant).toEqual(JSON.parse(a!.staticChoice));
    expect(cache.get(precisionKey(b!.key, false))!.label).toBe('reg 4x4');
    m.destroy();
  });

  it('budget 0 times nothing and builds the static choices', async () => {
    const gpu = await gpuWith(null);
    const m = await Model.load(smallNet(), { gpu, tune: { budgetMs: 0 } }, registry);
    const r = m.tuneReports[0]!;
    expect(r.unfinished).toBe(2);
    expect(r.timed).toBe(0);
    expect(r.store).toBe('memory');
    const fixed = await Model.load(smallNet(), { gpu, tune: false }, registry);
    expect(m.kernelSources(1).map((k) => k.wgsl)).toEqual(fixed.kernelSources(1).map((k) => k.wgsl));
    m.destroy(); fixed.destroy();
  });

  it('keeps the static choice unless another candidate saves at least 5 % of its time', () => {
    expect(pickVariant([10, 9.7, 11])).toBe(0);
    expect(pickVariant([10, 9.4, 9.6])).toBe(1);
    expect(pickVariant([10, undefined, 8])).toBe(2);
    // Static not timed (rejected or past the budget): the fastest that was.
    expect(pickVariant([undefined, 3, 2.99])).toBe(2);
    expect(pickVariant([])).toBeUndefined();
  });

  it('keeps f32 and f16 choices apart', () => {
    expect(precisionKey('Conv a', false)).not.toBe(precisionKey('Conv a', true));
  });

  it('accepts agreeing outputs and rejects NaN, garbage and half-precision-sized errors in f32', () => {
    const ref = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i));
    expect(disagreement(ref.map((x) => x + 1e-6), ref, false)).toBeUndefined();
    expect(disagreement(Float32Array.from(ref, (x, i) => (i === 7 ? NaN : x)), ref, false)).toMatch(/element 7/);
    expect(disagreement(ref.map((x) => x * 1.01), ref, false)).toMatch(/differs/);
    expect(disagreement(ref.map((x) => x * 1.005), ref, true)).toBeUndefined();
    expect(disagreement(ref.map((x) => -x), ref, true)).toMatch(/differs/);
  });
});

describe('tuning stores', () => {
  const choice = { variant: { kind: 'reg', pixels: 4, chan4: 2 }, label: 'reg 4x8', ms: 1.5, staticLabel: 'reg 4x8', staticMs: 1.5, candidates: 3, timed: 3, complete: true, at: 1 };

  it('a JSON file: round trip, merge across adapters, and a corrupt file read as empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tune-'));
    const path = join(dir, 'sub', 'tuning.json');
    const s = fileTuningStore(path);
    expect(await s.load('a')).toBeUndefined();
    await s.save('a', { 'f32|k1': choice }, 'adapter A');
    await s.save('b', { 'f32|k2': choice }, 'adapter B');
    await s.save('a', { 'f32|k3': { ...choice, ms: 1 } }, 'adapter A');
    expect(Object.keys((await s.load('a'))!).sort()).toEqual(['f32|k1', 'f32|k3']);
    expect(Object.keys((await s.load('b'))!)).toEqual(['f32|k2']);
    expect(parseTuningFile(readFileSync(path, 'utf8')).adapters.a!.adapter).toBe('adapter A');
    writeFileSync(path, '{"format": 1, "adapters": ');
    expect(await s.load('a')).toBeUndefined();
    await s.save('a', { 'f32|k1': choice }, 'adapter A');
    expect(Object.keys((await s.load('a'))!)).toEqual(['f32|k1']);
  });

  it('localStorage: one item holding every adapter', async () => {
    const items = new Map<string, string>();
    const ls = { getItem: (k: string) => items.get(k) ?? null, setItem: (k: string, v: string) => { items.set(k, v); } };
    const s = localStorageTuningStore(ls);
    await s.save('a', { 'f32|k1': choice }, 'A');
    expect((await s.load('a'))!['f32|k1']!.label).toBe('reg 4x8');
    expect(await s.load('b')).toBeUndefined();
    items.set('webgpu-xai.tuning', 'not json');
    expect(await s.load('a')).toBeUndefined();
  });

  it('the adapter key changes with the driver and the features', () => {
    const traits = { isSoftware: false, vendor: 'v', maxWorkgroupInvocations: 256, maxWorkgroupSizeX: 256, maxWorkgroupStorageBytes: 16384, maxStorageBuffersPerStage: 8, maxWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 1 << 27, hasF16: false };
    const a = adapterKeyOf({ vendor: 'nvidia', description: 'driver 1' }, ['timestamp-query'], traits);
    expect(adapterKeyOf({ vendor: 'nvidia', description: 'driver 2' }, ['timestamp-query'], traits)).not.toBe(a);
    expect(adapterKeyOf({ vendor: 'nvidia', description: 'driver 1' }, ['timestamp-query', 'shader-f16'], traits)).not.toBe(a);
    expect(adapterKeyOf({ vendor: 'nvidia', description: 'driver 1' }, ['timestamp-query'], traits)).toBe(a);
  });
});
