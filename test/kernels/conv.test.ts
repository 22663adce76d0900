import { describe, expect, it } from 'vitest';
import { convOp, convOpWith, chooseConvVariant, linearEpilogue, type ConvVariant, type ConvGeometry } from '../../src/kernels/conv.js';
import { PipelineCache } from '../../src/runtime/pipeline-cache.js';
import { makeBuildContext } from '../../src/runtime/build-context.js';
import { testGpu } from '../helpers/gpu.js';
import type { AdapterTraits } from '../../src/kernels/types.js';
import type { HostTensor } from '../../src/runtime/tensor.js';
import type { AttrValue } from '../../src/runtime/graph.js';
import { makeNode, runOp } from '../helpers/run-op.js';
import { convRef, attrsOf, type ConvCase as Case } from '../helpers/ref-conv.js';
import { mulberry32, nonZeroTensor } from '../helpers/random.js';

const rand = mulberry32(77);
const randT = (shape: number[]): HostTensor => nonZeroTensor(rand, shape);
/**
 * |got - ref| <= tol * max(1, |ref|) per element; with `scaled`, tol * max(1, max |ref|) instead
 * (half precision: the error follows the size of the partial sums, not of the output element).
 */
function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tol = 1e-4, scaled = false, preActivation: ArrayLike<number> = ref): void {
  expect(got.length).toBe(ref.length);
  // A clamping activation hides the size of the sums: the scale is that of the values before it.
  let scale = 1;
  if (scaled) for (let i = 0; i < preActivation.length; i++) scale = Math.max(scale, Math.abs(preActivation[i]!));
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!; const r = ref[i]!;
    if (!(Math.abs(g - r) <= tol * (scaled ? scale : Math.max(1, Math.abs(r))))) throw new Error(`element ${i}: got ${g}, want ${r}`);
    worst = Math.max(worst, Math.abs(g - r) / scale);
  }
  if (scaled && process.env.CONV_F16_REPORT) console.log(`f16 error ${worst.toExponential(2)} of scale ${scale.toPrecision(3)}`);
}

const CASES: Case[] = [
  { name: '3x3 pad 1 with bias', x: [1, 3, 7, 7], w: [5, 3, 3, 3], bias: true, pads: [1, 1, 1, 1] },
  { name: 'groups 2, stride 2, asymmetric pads', x: [1, 4, 9, 8], w: [6, 2, 3, 3], group: 2, strides: [2, 2], pads: [0, 1, 2, 1], bias: true },
  { name: 'depthwise 3x3', x: [1, 6, 8, 9], w: [6, 1, 3, 3], group: 6, pads: [1, 1, 1, 1], bias: true },
  { name: 'depthwise multiplier 2, stride 2', x: [2, 3, 9, 9], w: [6, 1, 3, 3], group: 3, strides: [2, 2], pads: [1, 0, 1, 2] },
  { name: 'dilation 2, batch 2', x: [2, 3, 10, 9], w: [9, 3, 3, 3], dilations: [2, 2], pads: [2, 1, 2, 1], bias: true },
  { name: 'SAME_UPPER stride 2', x: [1, 2, 8, 7], w: [4, 2, 4, 3], strides: [2, 2], autoPad: 'SAME_UPPER' },
  { name: 'SAME_LOWER stride 2', x: [1, 2, 8, 7], w: [4, 2, 4, 3], strides: [2, 2], autoPad: 'SAME_LOWER', bias: true },
  { name: 'VALID 2x3', x: [1, 3, 6, 7], w: [5, 3, 2, 3], autoPad: 'VALID' },
  { name: '1-D stride 2 dilation 2', x: [2, 3, 17], w: [4, 3, 3], strides: [2], pads: [1, 2], dilations: [2], bias: true },
  { name: '1x1 pointwise batch 2', x: [2, 9, 5, 5], w: [20, 9, 1, 1], bias: true },
  { name: '1x1 stride 2', x: [1, 8, 7, 7], w: [12, 8, 1, 1], strides: [2, 2] },
  { name: 'many tiles', x: [2, 8, 9, 9], w: [70, 8, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { name: 'grouped 4 channels per group', x: [1, 8, 6, 6], w: [16, 4, 3, 3], group: 2, pads: [1, 1, 1, 1] },
  // H*W % 4 == 0: the mm kernel loads four pixels per vec4.
  { name: '1x1 pointwise, H*W a multiple of 4, batch 2', x: [2, 12, 4, 6], w: [40, 12, 1, 1], bias: true },
  // A reduction of many k-tiles (split-K slices of several tiles each).
  { name: 'long reduction 3x3', x: [1, 40, 6, 5], w: [24, 40, 3, 3], pads: [1, 1, 1, 1], bias: true },
];

const VARIANTS: (ConvVariant | undefined)[] = [
  undefined,
  { kind: 'reg', pixels: 4, chan4: 1 },
  { kind: 'reg', pixels: 8, chan4: 2 },
  // Subgroup-broadcast weights: 8, 16 and 32 channels per invocation (run where subgroups are 8 wide).
  { kind: 'reg', pixels: 4, chan4: 2, lanes: 8 },
  { kind: 'reg', pixels: 8, chan4: 4, lanes: 8 },
  { kind: 'reg', pixels: 4, chan4: 8, lanes: 8 },
  { kind: 'tiled' },
  { kind: 'tiled', tm: 64, tn: 32 },
  { kind: 'tiled', tm: 32, tn: 32 },
  { kind: 'tiled', tm: 64, tn: 16 },
  { kind: 'tiled', tm: 32, tn: 64, splitK: 2 },
  { kind: 'tiled', tm: 32, tn: 32, splitK: 3 },
  { kind: 'tiled', splitK: 16 },
  { kind: 'depthwise' },
  // Shared-memory implicit GEMM: every register block and k-step, tile edges past the data.
  { kind: 'mm', tm: 32, tn: 32, rm: 4, rn: 4, tk: 16 },
  { kind: 'mm', tm: 64, tn: 64, rm: 4, rn: 4, tk: 8 },
  { kind: 'mm', tm: 64, tn: 32, rm: 8, rn: 4, tk: 32 },
  { kind: 'mm', tm: 32, tn: 64, rm: 4, rn: 8, tk: 16 },
  { kind: 'mm', tm: 128, tn: 128, rm: 8, rn: 8, tk: 8 },
  { kind: 'mm', tm: 32, tn: 16, rm: 4, rn: 4, tk: 8, splitK: 3 },
  { kind: 'mm', tm: 64, tn: 64, rm: 8, rn: 8, tk: 16, splitK: 16 },
  // Half precision (skipped without shader-f16; looser tolerance, see F16_TOL).
  { kind: 'mm', tm: 64, tn: 64, rm: 4, rn: 4, tk: 16, f16: true },
  { kind: 'mm', tm: 32, tn: 32, rm: 4, rn: 8, tk: 32, splitK: 2, f16: true },
];
const vname = (v: ConvVariant | undefined) => {
  if (!v) return 'auto';
  if (v.kind === 'reg') return `reg-${v.pixels}x${v.chan4 * 4}${v.lanes ? `-lanes${v.lanes}` : ''}`;
  if (v.kind === 'tiled') return `tiled-${v.tm ?? 64}x${v.tn ?? 64}${v.splitK ? `-split${v.splitK}` : ''}`;
  if (v.kind === 'mm') return `mm-${v.tm}x${v.tn}-r${v.rm}x${v.rn}-k${v.tk}${v.splitK ? `-split${v.splitK}` : ''}${v.f16 ? '-f16' : ''}`;
  return v.kind;
};

/**
 * Tolerance of the f16 mm variants, relative to the output's scale (max(1, max |reference|)) with
 * inputs and weights uniform in [-1, 1]: inputs and weights rounded to 11 significant bits and
 * products summed in f16 within each k-tile. The measured worst case over these cases is in
 * src/wgsl/conv2d-mm.ts (CONV_F16_REPORT=1 prints it per case).
 */
const F16_TOL = 5e-3;
const isF16 = (v: ConvVariant | undefined) => v?.kind === 'mm' && v.f16 === true;
const tolOf = (v: ConvVariant | undefined) => (isF16(v) ? F16_TOL : 1e-4);

/** Subgroup variants need a device whose subgroups have exactly that many lanes; f16 ones shader-f16. */
async function skipWithoutLanes(v: ConvVariant | undefined, t: { skip: (note?: string) => void }): Promise<void> {
  if (v?.kind === 'reg' && v.lanes && (await testGpu()).traits.fixedSubgroupSize !== v.lanes) t.skip(`no ${v.lanes}-lane subgroups on this adapter`);
  if (v?.kind === 'mm' && v.f16 && !(await testGpu()).traits.hasF16) t.skip('no shader-f16 on this adapter');
}

describe('Conv', () => {
  for (const v of VARIANTS) {
    for (const c of CASES) {
      const depthwise = c.w[1] === 1 && (c.group ?? 1) > 1;
      if (v?.kind === 'depthwise' && !depthwise) continue;
      it(`${c.name} (${vname(v)})`, async (t) => {
        await skipWithoutLanes(v, t);
        const x = randT(c.x); const w = randT(c.w); const b = c.bias ? randT([c.w[0]!]) : undefined;
        const node = makeNode('Conv', attrsOf(c), b ? 3 : 2);
        const [y] = await runOp(convOpWith(v), node, b ? [x, w, b] : [x, w]);
        const ref = convRef(c, x, w, b);
        expect(y!.shape).toEqual(ref.shape);
        expectClose(y!.data, ref.data, tolOf(v), isF16(v));
      });
    }
  }

  for (const v of VARIANTS) {
    it(`fused Relu / Clip with residual (${vname(v)})`, async (t) => {
      await skipWithoutLanes(v, t);
      const dw = v?.kind === 'depthwise';
      const c: Case = dw ? { name: '', x: [2, 4, 6, 5], w: [4, 1, 3, 3], group: 4, pads: [1, 1, 1, 1] } : { name: '', x: [2, 5, 6, 5], w: [11, 5, 3, 3], pads: [1, 1, 1, 1] };
      const x = randT(c.x); const w = randT(c.w); const b = randT([c.w[0]!]);
      const ref0 = convRef(c, x, w, b);
      const r = randT(ref0.shape);
      const acts: [string, number[], (x: number) => number][] = [
        ['Relu', [], (t) => Math.max(0, t)],
        ['Clip', [0, 0.6], (t) => Math.min(0.6, Math.max(0, t))],
        ['LeakyRelu', [0.1], (t) => (t >= 0 ? t : 0.1 * t)],
        // Not piecewise linear: baked into the source instead of the uniform epilogue.
        ['HardSwish', [], (t) => t * Math.min(1, Math.max(0, t / 6 + 0.5))],
      ];
      for (const [act, params, f] of acts) {
        const node = makeNode('Conv', { ...attrsOf(c), _activation: act, _activation_params: params }, 4);
        const [y] = await runOp(convOpWith(v), node, [x, w, b, r]);
        expectClose(y!.data, ref0.data.map((t, i) => f(t + r.data[i]!)), tolOf(v), isF16(v), ref0.data.map((t, i) => t + r.data[i]!));
        // Activation without residual (no 4th input).
        const node3 = makeNode('Conv', { ...attrsOf(c), _activation: act, _activation_params: params }, 3);
        const [y3] = await runOp(convOpWith(v), node3, [x, w, b]);
        expectClose(y3!.data, ref0.data.map(f), tolOf(v), isF16(v), ref0.data);
      }
    });
  }

  it('shares one pipeline between convs that differ only in a piecewise-linear activation or residual', async () => {
    const gpu = await testGpu();
    const cache = new PipelineCache(gpu.device);
    const owned: GPUBuffer[] = [];
    const ctx = makeBuildContext(gpu, cache, owned);
    const c: Case = { name: '', x: [1, 4, 6, 6], w: [8, 4, 3, 3], pads: [1, 1, 1, 1] };
    const args = [{ shape: c.x }, { shape: c.w, constant: randT(c.w) }, { shape: [8], constant: randT([8]) }, { shape: [1, 8, 6, 6] }];
    let forced: ConvVariant = { kind: 'reg', pixels: 4, chan4: 2 };
    const build = (attrs: Record<string, AttrValue>, nIn: number) => {
      const node = makeNode('Conv', { ...attrsOf(c), ...attrs }, nIn);
      return convOpWith(forced).build!(node, args.slice(0, nIn), [[1, 8, 6, 6]], ctx);
    };
    const all = () => [
      build({}, 3), build({ _activation: 'Relu' }, 3), build({ _activation: 'Relu' }, 4),
      build({ _activation: 'Clip', _activation_params: [0, 6] }, 4), build({ _activation: 'LeakyRelu', _activation_params: [0.2] }, 3),
    ];
    expect(new Set(all().map((p) => p.dispatches[0]!.pipeline)).size).toBe(1);
    build({ _activation: 'Sigmoid' }, 3);
    expect(cache.size).toBe(2);
    // The mm kernel shares its pipelines the same way, split-K ones through the reduce dispatch.
    forced = { kind: 'mm', tm: 32, tn: 32, rm: 4, rn: 4, tk: 16 };
    expect(new Set(all().map((p) => p.dispatches[0]!.pipeline)).size).toBe(1);
    expect(cache.size).toBe(3);
    forced = { kind: 'mm', tm: 32, tn: 32, rm: 4, rn: 4, tk: 8, splitK: 2 };
    const split = all();
    expect(new Set(split.map((p) => p.dispatches[0]!.pipeline)).size).toBe(1);
    expect(new Set(split.map((p) => p.dispatches[1]!.pipeline)).size).toBe(1);
    expect(cache.size).toBe(5);
    for (const b of owned) b.destroy();
    expect(linearEpilogue({ kind: 'Relu', params: [] })).toEqual([1, 0, 3.4028234663852886e38]);
    expect(linearEpilogue({ kind: 'LeakyRelu', params: [0.1] })).toEqual([0.1, -3.4028234663852886e38, 3.4028234663852886e38]);
    expect(linearEpilogue({ kind: 'Clip', params: [-Infinity, 6] })).toEqual([1, -3.4028234663852886e38, 6]);
    expect(linearEpilogue({ kind: 'Tanh', params: [] })).toBeUndefined();
  });

  it('residual without bias (input 2 omitted)', async () => {
    const c: Case = { name: '', x: [1, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1] };
    const x = randT(c.x); const w = randT(c.w);
    const ref0 = convRef(c, x, w);
    const r = randT(ref0.shape);
    const node = makeNode('Conv', attrsOf(c), 4);
    node.inputs[2] = '';
    const [y] = await runOp(convOp, node, [x, w, undefined, r]);
    expectClose(y!.data, ref0.data.map((t, i) => t + r.data[i]!));
  });

  it('rejects inconsistent shapes', () => {
    const inf = (x: number[], w: number[], attrs: Record<string, AttrValue> = {}) => convOp.inferShapes(makeNode('Conv', attrs, 2), [{ shape: x }, { shape: w }]);
    expect(() => inf([1, 4, 5, 5], [6, 3, 3, 3])).toThrow(/channels/);
    expect(() => inf([1, 4, 5, 5], [6, 2, 3, 3], { group: 3 })).toThrow(/channels/);
    expect(() => inf([1, 4, 2, 2], [6, 4, 3, 3])).toThrow(/geometry/);
    expect(() => inf([1, 4, 5, 5, 5], [6, 4, 3, 3, 3])).toThrow(/1-D and 2-D/);
    expect(inf([1, 4, 5, 5], [6, 4, 3, 3], { strides: [2, 2], auto_pad: 'SAME_UPPER' })).toEqual([[1, 6, 3, 3]]);
  });
});

describe('chooseConvVariant', () => {
  const soft: AdapterTraits = { isSoftware: true, vendor: 'mesa', maxWorkgroupInvocations: 1024, maxWorkgroupSizeX: 1024, maxWorkgroupStorageBytes: 32768, maxStorageBuffersPerStage: 16, maxWorkgroupsPerDimension: 65535, maxStorageBufferBindingSize: 1 << 27, hasF16: true };
  const gpu: AdapterTraits = { ...soft, isSoftware: false, vendor: 'nvidia' };
  const geo = (C: number, M: number, group: number): ConvGeometry => ({ batch: 1, C, H: 56, W: 56, M, group, KH: 3, KW: 3, sH: 1, sW: 1, dH: 1, dW: 1, pT: 1, pL: 1, OH: 56, OW: 56 });
  it('register-blocks on software adapters', () => {
    expect(chooseConvVariant(soft, geo(64, 64, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 2 });
    expect(chooseConvVariant(soft, geo(8, 4, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 1 });
    expect(chooseConvVariant(soft, { ...geo(256, 64, 1), KH: 1, KW: 1, pT: 0, pL: 0 })).toEqual({ kind: 'reg', pixels: 8, chan4: 2 });
  });
  it('broadcasts weights across 8-lane subgroups on software adapters that have them', () => {
    const soft8: AdapterTraits = { ...soft, fixedSubgroupSize: 8 };
    expect(chooseConvVariant(soft8, geo(64, 64, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 8, lanes: 8 });
    expect(chooseConvVariant(soft8, geo(8, 16, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 4, lanes: 8 });
    expect(chooseConvVariant(soft8, geo(8, 8, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 2, lanes: 8 });
    expect(chooseConvVariant(soft8, geo(8, 4, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 1 });
    expect(chooseConvVariant({ ...soft, fixedSubgroupSize: 16 }, geo(64, 64, 1))).toEqual({ kind: 'reg', pixels: 4, chan4: 2 });
    // More one-subgroup workgroups than a dispatch dimension holds: the 64-invocation kernel.
    expect(chooseConvVariant(soft8, { ...geo(64, 64, 1), batch: 700 })).toEqual({ kind: 'reg', pixels: 4, chan4: 2 });
    expect(chooseConvVariant({ ...gpu, fixedSubgroupSize: 8 }, geo(64, 64, 1))).toEqual({ kind: 'tiled' });
  });
  it('uses shared tiles on real GPUs when a group is wide enough', () => {
    expect(chooseConvVariant(gpu, geo(64, 64, 1))).toEqual({ kind: 'tiled' });
    expect(chooseConvVariant(gpu, geo(64, 64, 16)).kind).toBe('reg');
    expect(chooseConvVariant({ ...gpu, maxWorkgroupInvocations: 128 }, geo(64, 64, 1)).kind).toBe('reg');
  });
  it('sends one-input-channel groups to the depthwise kernel everywhere', () => {
    expect(chooseConvVariant(soft, geo(32, 32, 32))).toEqual({ kind: 'depthwise' });
    expect(chooseConvVariant(gpu, geo(32, 64, 32))).toEqual({ kind: 'depthwise' });
    expect(chooseConvVariant(gpu, geo(1, 16, 1)).kind).toBe('tiled');
  });
});
