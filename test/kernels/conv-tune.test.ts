/**
 * Conv's tune spec: candidate lists for several real-GPU and software adapters (pure), the key,
 * and every candidate the real-GPU lists offer for a few small geometries built through the
 * tuner's path (`BuildContext.variant`) and run on this adapter against the float64 reference.
 */
import { describe, expect, it } from 'vitest';
import { convOp, convOpWith, chooseConvVariant, convGeometry, type ConvGeometry, type ConvVariant } from '../../src/kernels/conv.js';
import { convCandidates, convVariantFits, describeConvVariant, splitSlices, GPU_MAX_CANDIDATES, SOFTWARE_MAX_CANDIDATES } from '../../src/kernels/conv-tune.js';
import type { AdapterTraits, OpDef, TensorArg } from '../../src/kernels/types.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { convRef, attrsOf, type ConvCase } from '../helpers/ref-conv.js';
import { testGpu } from '../helpers/gpu.js';
import { mulberry32, nonZeroTensor } from '../helpers/random.js';

const base = { maxWorkgroupsPerDimension: 65535, maxStorageBuffersPerStage: 16 };
/** Adapters as their WebGPU limits describe them (vendor strings do not matter to the lists). */
const TRAITS: Record<string, AdapterTraits> = {
  h100: { ...base, isSoftware: false, vendor: 'nvidia', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBufferBindingSize: 2 ** 31 - 4, hasF16: true, fixedSubgroupSize: 32 },
  apple: { ...base, isSoftware: false, vendor: 'apple', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBufferBindingSize: 2 ** 30, hasF16: true, fixedSubgroupSize: 32 },
  // The WebGPU defaults: 256 invocations, 16 KiB of workgroup memory, 8 storage buffers, 128 MiB.
  small: { ...base, isSoftware: false, vendor: 'intel', maxWorkgroupInvocations: 256, maxWorkgroupSizeX: 256, maxWorkgroupStorageBytes: 16384, maxStorageBuffersPerStage: 8, maxStorageBufferBindingSize: 2 ** 27, hasF16: false },
  lavapipe: { ...base, isSoftware: true, vendor: 'mesa', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBufferBindingSize: 2 ** 27, hasF16: true, fixedSubgroupSize: 8 },
  swiftshader: { ...base, isSoftware: true, vendor: 'google', maxWorkgroupInvocations: 256, maxWorkgroupSizeX: 256, maxWorkgroupStorageBytes: 16384, maxStorageBuffersPerStage: 10, maxStorageBufferBindingSize: 2 ** 27, hasF16: false },
};

const conv = (batch: number, C: number, M: number, H: number, k: number, s = 1, group = 1): ConvGeometry => {
  const p = k >> 1; const O = Math.floor((H + 2 * p - k) / s) + 1;
  return { batch, C, H, W: H, M, group, KH: k, KW: k, sH: s, sW: s, dH: 1, dW: 1, pT: p, pL: p, OH: O, OW: O };
};
/** ResNet-50 layers (and a few odd ones) at batch 1, 8 and 32. */
const GEOMETRIES: [string, ConvGeometry][] = [1, 8, 32].flatMap((b) => [
  [`b${b} stem 7x7 s2`, conv(b, 3, 64, 224, 7, 2)],
  [`b${b} l1 1x1 64-256`, conv(b, 64, 256, 56, 1)],
  [`b${b} l1 3x3 64`, conv(b, 64, 64, 56, 3)],
  [`b${b} l2 3x3 128 s2`, conv(b, 128, 128, 56, 3, 2)],
  [`b${b} l3 1x1 1024-256`, conv(b, 1024, 256, 14, 1)],
  [`b${b} l3 3x3 256`, conv(b, 256, 256, 14, 3)],
  [`b${b} l4 3x3 512`, conv(b, 512, 512, 7, 3)],
  [`b${b} l4 1x1 2048-512`, conv(b, 2048, 512, 7, 1)],
  [`b${b} l4 ds 1024-2048 s2`, conv(b, 1024, 2048, 14, 1, 2)],
  [`b${b} resnext 3x3 g32`, conv(b, 256, 256, 28, 3, 1, 32)],
  [`b${b} tiny 3-4`, conv(b, 3, 4, 9, 3)],
  [`b${b} depthwise`, conv(b, 32, 32, 28, 3, 1, 32)],
] as [string, ConvGeometry][]);

/** The limits a candidate must respect, recomputed here independently of conv-tune.ts. */
function withinLimits(v: ConvVariant, g: ConvGeometry, t: AdapterTraits, f16Allowed: boolean): string | undefined {
  const Mg = g.M / g.group; const K = (g.C / g.group) * g.KH * g.KW; const N = g.batch * g.OH * g.OW;
  const max = t.maxWorkgroupsPerDimension;
  if (v.kind === 'mm') {
    const inv = (v.tm / v.rm) * (v.tn / v.rn);
    const { S, tilesPer } = splitSlices(Math.ceil(K / v.tk), v.splitK);
    if (inv > t.maxWorkgroupInvocations) return `${inv} invocations`;
    if (v.tn / v.rn > t.maxWorkgroupSizeX) return 'workgroup size x';
    if (v.tk * (v.tm + v.tn) * (v.f16 ? 2 : 4) > t.maxWorkgroupStorageBytes) return 'workgroup storage';
    if (Math.ceil(N / v.tn) > max || Math.ceil(Mg / v.tm) > max || g.group * S > max) return 'dispatch';
    if (v.f16 && !(f16Allowed && t.hasF16)) return 'f16 not allowed';
    if (S > 1 && S * N * g.M * 4 > t.maxStorageBufferBindingSize) return 'split-K scratch';
    if (S > 1 && tilesPer < 2) return 'a split-K slice of one k-tile';
    if ((v.splitK ?? 1) !== S) return `split-K ${v.splitK} runs as ${S}`;
  }
  if (v.kind === 'tiled' && (t.maxWorkgroupInvocations < ((v.tm ?? 64) / 4) * ((v.tn ?? 64) / 4) || t.maxWorkgroupStorageBytes < 16 * ((v.tm ?? 64) + (v.tn ?? 64)) * 4)) return 'tiled limits';
  if (v.kind === 'reg' && v.lanes && t.fixedSubgroupSize !== v.lanes) return 'lanes without matching subgroups';
  return undefined;
}

describe('conv candidate lists', () => {
  for (const [tname, t] of Object.entries(TRAITS)) {
    it(`${tname}: static choice first, no duplicates, within limits, bounded`, () => {
      const counts: string[] = [];
      for (const [gname, g] of GEOMETRIES) {
        for (const f16 of [false, true]) {
          const list = convCandidates(g, t, { f16 }, chooseConvVariant(t, g));
          expect(list[0], gname).toEqual(chooseConvVariant(t, g));
          const texts = list.map((v) => JSON.stringify(v));
          expect(new Set(texts).size, `${gname}: ${texts.join(' ')}`).toBe(texts.length);
          for (const v of list) {
            expect(withinLimits(v, g, t, f16), `${gname} ${describeConvVariant(v)}`).toBeUndefined();
            expect(convVariantFits(v, g, t)).toBe(true);
          }
          expect(list.length).toBeLessThanOrEqual(t.isSoftware ? SOFTWARE_MAX_CANDIDATES : GPU_MAX_CANDIDATES);
          const shared = list.filter((v) => v.kind === 'mm' || v.kind === 'tiled').length;
          if (t.isSoftware) expect(shared, gname).toBeLessThanOrEqual(2);
          if (g.C === g.group && g.group > 1) expect(list).toEqual([{ kind: 'depthwise' }]);
          if (f16) counts.push(`${gname} ${list.length}`);
          else expect(list.some((v) => v.kind === 'mm' && v.f16)).toBe(false);
        }
      }
      if (t === TRAITS['h100']) {
        // ResNet-50 layers get a real choice on a big GPU: 8-20 candidates with f16.
        for (const c of counts.filter((c) => !/tiny|depthwise|resnext/.test(c))) expect(Number(c.split(' ').pop()), c).toBeGreaterThanOrEqual(8);
      }
    });
  }

  it('offers split-K and small tiles only where the grid is small', () => {
    const t = TRAITS['h100']!;
    const late1 = convCandidates(conv(1, 512, 512, 7, 3), t, { f16: false }, chooseConvVariant(t, conv(1, 512, 512, 7, 3)));
    expect(late1.some((v) => v.kind === 'mm' && (v.splitK ?? 1) > 1)).toBe(true);
    expect(late1.some((v) => v.kind === 'mm' && v.tm === 32 && v.tn === 32)).toBe(true);
    const big = conv(32, 64, 256, 56, 1);
    const early32 = convCandidates(big, t, { f16: false }, chooseConvVariant(t, big));
    expect(early32.some((v) => (v.kind === 'mm' || v.kind === 'tiled') && (v.splitK ?? 1) > 1)).toBe(false);
    expect(early32.some((v) => v.kind === 'mm' && v.tm === 128 && v.tn === 128)).toBe(true);
    expect(early32.some((v) => v.kind === 'mm' && v.tn < 64)).toBe(false);
  });

  it('lists subgroup register kernels and one shared-memory kernel on lavapipe', () => {
    const t = TRAITS['lavapipe']!;
    const g = conv(1, 64, 64, 56, 1);
    const list = convCandidates(g, t, { f16: true }, chooseConvVariant(t, g));
    expect(list.map(describeConvVariant)).toEqual(['reg 4px x 32ch lanes 8', 'reg 4px x 16ch lanes 8', 'reg 8px x 16ch lanes 8', 'reg 4px x 8ch', 'reg 8px x 8ch', 'mm 64x64 r8x8 k16']);
  });

  it('describes variants briefly', () => {
    expect(describeConvVariant({ kind: 'mm', tm: 64, tn: 32, rm: 4, rn: 4, tk: 16, splitK: 4, f16: true })).toBe('mm 64x32 r4x4 k16 split-K 4 f16');
    expect(describeConvVariant({ kind: 'tiled' })).toBe('tiled 64x64');
    expect(convOp.tune!.describe({ kind: 'reg', pixels: 4, chan4: 8, lanes: 8 })).toBe('reg 4px x 32ch lanes 8');
  });
});

const rand = mulberry32(4242);
const randT = (shape: number[]): HostTensor => nonZeroTensor(rand, shape);

describe('conv tune key', () => {
  const key = (c: ConvCase, attrs: Record<string, AttrValue> = {}, nIn = 3, t = TRAITS['h100']!) => {
    const node = makeNode('Conv', { ...attrsOf(c), ...attrs }, nIn);
    const args: TensorArg[] = [{ shape: c.x }, { shape: c.w, constant: randT(c.w) }, { shape: [c.w[0]!], constant: randT([c.w[0]!]) }];
    if (nIn === 4) args.push({ shape: convGeometry(node, c.x, c.w).outShape });
    return convOp.tune!.key(node, args, [], t);
  };
  const c: ConvCase = { name: '', x: [1, 64, 14, 14], w: [64, 64, 3, 3], pads: [1, 1, 1, 1] };
  it('ignores weights and the linear activation kind, and tells apart what changes speed', () => {
    expect(key(c)).toBe(key(c));
    expect(key(c, { _activation: 'Relu' })).toBe(key(c, { _activation: 'Clip', _activation_params: [0, 6] }));
    expect(key(c)).toBe(key(c, { _activation: 'LeakyRelu', _activation_params: [0.1] }));
    const others = [
      key({ ...c, x: [2, 64, 14, 14] }), key(c, { _activation: 'Sigmoid' }), key(c, {}, 4),
      key({ ...c, strides: [2, 2] }), key({ ...c, dilations: [2, 2], pads: [2, 2, 2, 2] }), key({ ...c, x: [1, 64, 14, 15] }),
      key({ ...c, w: [64, 32, 3, 3], group: 2 }), key({ ...c, pads: [1, 1, 0, 0] }), key({ ...c, w: [32, 64, 3, 3] }),
    ];
    expect(new Set([key(c), ...others]).size).toBe(others.length + 1);
    expect(key(c)).toMatch(/^conv1\|/);
  });
  it('is undefined for depthwise convolutions; only the unforced op is tunable', () => {
    expect(key({ name: '', x: [1, 8, 9, 9], w: [8, 1, 3, 3], group: 8, pads: [1, 1, 1, 1] })).toBeUndefined();
    expect(convOpWith({ kind: 'tiled' }).tune).toBeUndefined();
    expect(convOp.tune).toBeDefined();
  });
});

/**
 * Builds through the tuner's path: the unforced op, with `variant` answering the candidate for
 * exactly the key the spec reports.
 */
function tunedOp(v: ConvVariant, expectKey: string): OpDef {
  return {
    ...convOp,
    build: (node, inputs, outputs, ctx) => convOp.build!(node, inputs, outputs, {
      ...ctx, variant: (k) => { expect(k).toBe(expectKey); return v; },
    }),
  };
}

/** Small geometries whose real-GPU lists cover split-K, vec4 pointwise, gathers, large tiles, f16. */
const RUN_CASES: { c: ConvCase; attrs?: Record<string, AttrValue>; residual?: boolean }[] = [
  // A batch-1 late layer: small grid, long reduction (split-K, small tiles).
  { c: { name: 'late 3x3', x: [1, 64, 7, 7], w: [64, 64, 3, 3], pads: [1, 1, 1, 1], bias: true }, attrs: { _activation: 'Relu' } },
  // Pointwise with H*W % 4 == 0 (vec4 input), split over 6 k-tiles.
  { c: { name: 'pointwise vec4', x: [1, 96, 8, 8], w: [64, 96, 1, 1], bias: true } },
  // Strided 1x1 with a residual and LeakyRelu (uniform epilogue).
  { c: { name: 'downsample', x: [2, 32, 8, 8], w: [48, 32, 1, 1], strides: [2, 2], bias: true }, attrs: { _activation: 'LeakyRelu', _activation_params: [0.1] }, residual: true },
  // A fused QuantizeLinear→DequantizeLinear (QOperator models) after Relu, in the uniform epilogue.
  { c: { name: 'fake quant', x: [1, 64, 7, 7], w: [64, 64, 3, 3], pads: [1, 1, 1, 1], bias: true }, attrs: { _activation: 'Relu', _fakequant: [0.05, 3, 0, 255] } },
  // Enough outputs that the large tiles are listed; baked activation.
  { c: { name: 'large grid', x: [1, 8, 128, 128], w: [256, 8, 1, 1], bias: true }, attrs: { _activation: 'HardSwish' } },
];

describe('every real-GPU candidate against the reference', () => {
  const t = TRAITS['h100']!;
  for (const rc of RUN_CASES) {
    it(rc.c.name, async () => {
      const gpu = await testGpu();
      const nIn = rc.residual ? 4 : 3;
      const node = makeNode('Conv', { ...attrsOf(rc.c), ...rc.attrs }, nIn);
      const x = randT(rc.c.x); const w = randT(rc.c.w); const b = randT([rc.c.w[0]!]);
      const ref0 = convRef(rc.c, x, w, b);
      const r = rc.residual ? randT(ref0.shape) : undefined;
      const act = rc.attrs?.['_activation'];
      const f = (v: number) => (act === 'Relu' ? Math.max(0, v) : act === 'LeakyRelu' ? (v >= 0 ? v : 0.1 * v) : act === 'HardSwish' ? v * Math.min(1, Math.max(0, v / 6 + 0.5)) : v);
      const fq = rc.attrs?.['_fakequant'] as number[] | undefined;
      const roundEven = (v: number) => { const k = Math.round(v); return k - v === 0.5 && k % 2 !== 0 ? k - 1 : k; };
      const quant = (v: number) => (fq ? (Math.min(fq[3]!, Math.max(fq[2]!, roundEven(v / fq[0]!) + fq[1]!)) - fq[1]!) * fq[0]! : v);
      const ref = ref0.data.map((v, i) => quant(f(v + (r ? r.data[i]! : 0))));
      const args: TensorArg[] = [{ shape: rc.c.x }, { shape: rc.c.w, constant: w }, { shape: [rc.c.w[0]!], constant: b }];
      if (r) args.push({ shape: ref0.shape });
      const key = convOp.tune!.key(node, args, [ref0.shape], t)!;
      expect(key).toBeDefined();
      const list = convOp.tune!.candidates(node, args, [ref0.shape], t, { f16: gpu.traits.hasF16 }) as ConvVariant[];
      expect(list.length).toBeGreaterThanOrEqual(5);
      let scale = 1;
      for (const v of ref) scale = Math.max(scale, Math.abs(v));
      for (const v of list) {
        const t0 = performance.now();
        const [y] = await runOp(tunedOp(v, key), node, r ? [x, w, b, r] : [x, w, b]);
        if (process.env.CONV_TUNE_TIMES) console.log(`${rc.c.name} ${describeConvVariant(v)} ${(performance.now() - t0).toFixed(0)} ms`);
        const f16 = v.kind === 'mm' && v.f16 === true;
        for (let i = 0; i < ref.length; i++) {
          const d = Math.abs(y!.data[i]! - ref[i]!);
          // f16: the tolerance of the mm tests (5e-3 of the output's scale); f32: 1e-4 relative.
          // Fake quantisation: one level where float rounding meets a half-level boundary.
          const ok = fq ? d <= fq[0]! * 1.0001 + (f16 ? 5e-3 * scale : 0) : f16 ? d <= 5e-3 * scale : d <= 1e-4 * Math.max(1, Math.abs(ref[i]!));
          if (!ok) throw new Error(`${describeConvVariant(v)} element ${i}: got ${y!.data[i]}, want ${ref[i]}`);
        }
        // ... and such flips are rare: without the quantisation nearly every element would differ.
        if (fq && !f16) expect(ref.filter((w, i) => Math.abs(y!.data[i]! - w) > 1e-5).length).toBeLessThanOrEqual(ref.length / 100);
      }
    });
  }
});

describe('gradients are not tuned', () => {
  it('a forced mm variant builds its backward with the gradient chooser', async () => {
    const gpu = await testGpu();
    const c: ConvCase = { name: '', x: [1, 6, 7, 7], w: [10, 6, 3, 3], pads: [1, 1, 1, 1] };
    const node = makeNode('Conv', attrsOf(c), 2);
    const args: TensorArg[] = [{ shape: c.x }, { shape: c.w, constant: randT(c.w) }];
    const { PipelineCache } = await import('../../src/runtime/pipeline-cache.js');
    const { makeBuildContext } = await import('../../src/runtime/build-context.js');
    const owned: GPUBuffer[] = [];
    const cache = new PipelineCache(gpu.device);
    const ctx = makeBuildContext(gpu, cache, owned);
    const out = [convGeometry(node, c.x, c.w).outShape];
    const forced = convOpWith({ kind: 'mm', tm: 32, tn: 32, rm: 4, rn: 4, tk: 16 }).backward!(node, args, out, ctx, [true]);
    const auto = convOpWith().backward!(node, args, out, { ...ctx, variant: () => ({ kind: 'mm', tm: 64, tn: 64, rm: 4, rn: 4, tk: 16 }) }, [true]);
    expect(forced.dispatches.map((d) => d.pipeline)).toEqual(auto.dispatches.map((d) => d.pipeline));
    expect(forced.dispatches[0]!.label).toMatch(/^ConvGrad/);
    for (const b of owned) b.destroy();
  });
});
