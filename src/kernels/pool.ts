/**
 * Pooling family: MaxPool, AveragePool (1-D and 2-D), GlobalAveragePool, GlobalMaxPool and LRN.
 * Window geometry follows the ONNX spec (auto_pad, ceil_mode, dilations); everything is a uniform.
 */
import type { AdapterTraits, KernelProgram, OpDef, TensorArg, BuildContext } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrFloat, attrInt, attrInts, attrString } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { sizeOf } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import {
  POOL2D_WGSL, POOL_ROW_RUN, GLOBAL_POOL_THREAD_WGSL, GLOBAL_POOL_WORKGROUP_WGSL, LRN_WGSL, POOL_WG,
} from '../wgsl/pool.js';
import { MAXPOOL_GRAD_WGSL, LRN_GRAD_WGSL } from '../wgsl/pool-grad.js';
import { adjointDispatch, type AdjointAxis, type AdjointTerm } from './layout-grad.js';
import { BOOL_INT, POSITIVE_INTS, WINDOW, sig } from './schema.js';
import { checkI32 } from '../runtime/limits.js';

/** Signatures per opset (ONNX's Operators.md). */
const POOL_SCHEMA: OpSchema = {
  MaxPool: [sig(1, 1, 1, WINDOW, ['kernel_shape']), sig(8, 1, [1, 2], { ...WINDOW, storage_order: BOOL_INT }, ['kernel_shape']),
    sig(10, 1, [1, 2], { ...WINDOW, storage_order: BOOL_INT, ceil_mode: BOOL_INT, dilations: POSITIVE_INTS }, ['kernel_shape'])],
  AveragePool: [sig(1, 1, 1, WINDOW, ['kernel_shape']), sig(7, 1, 1, { ...WINDOW, count_include_pad: BOOL_INT }, ['kernel_shape']),
    sig(10, 1, 1, { ...WINDOW, count_include_pad: BOOL_INT, ceil_mode: BOOL_INT }, ['kernel_shape']),
    sig(19, 1, 1, { ...WINDOW, count_include_pad: BOOL_INT, ceil_mode: BOOL_INT, dilations: POSITIVE_INTS }, ['kernel_shape'])],
  GlobalAveragePool: [sig(1, 1)], GlobalMaxPool: [sig(1, 1)],
  LRN: [sig(1, 1, 1, { alpha: 'float', beta: 'float', bias: 'float', size: { type: 'int', min: 1 } }, ['size'])],
};
import type { OpSchema } from './types.js';

/** Resolved window geometry of a 1-D or 2-D pool, per spatial axis. */
export interface PoolGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padBegin: number[];
  padEnd: number[];
  out: number[];
}

function fail(node: GraphNode, msg: string): never {
  throw new GraphError(`${node.opType} '${node.name}': ${msg}`);
}

/**
 * Output size and effective pads of MaxPool / AveragePool for the spatial dims `spatial`.
 * With ceil_mode, a last window that would start inside the end padding is dropped (as PyTorch and
 * the ONNX reference do).
 */
export function poolGeometry(node: GraphNode, spatial: readonly number[]): PoolGeometry {
  const r = spatial.length;
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel || kernel.length !== r) fail(node, `kernel_shape must have ${r} entries`);
  const strides = attrInts(node, 'strides') ?? new Array<number>(r).fill(1);
  const dilations = attrInts(node, 'dilations') ?? new Array<number>(r).fill(1);
  const pads = attrInts(node, 'pads') ?? new Array<number>(2 * r).fill(0);
  if (strides.length !== r || dilations.length !== r || pads.length !== 2 * r) fail(node, 'strides, dilations or pads have the wrong length');
  if (kernel.some((k) => k < 1) || strides.some((s) => s < 1) || dilations.some((d) => d < 1) || pads.some((p) => p < 0)) {
    fail(node, 'kernel_shape, strides and dilations must be positive, pads non-negative');
  }
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  const padBegin: number[] = [];
  const padEnd: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const n = spatial[i]!;
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    const s = strides[i]!;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const o = Math.ceil(n / s);
      const total = Math.max(0, (o - 1) * s + span - n);
      const small = Math.floor(total / 2);
      padBegin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      padEnd.push(autoPad === 'SAME_UPPER' ? total - small : small);
      out.push(o);
    } else if (autoPad === 'VALID') {
      padBegin.push(0); padEnd.push(0);
      out.push(Math.ceil((n - span + 1) / s));
    } else if (autoPad === 'NOTSET') {
      const pb = pads[i]!, pe = pads[i + r]!;
      const q = (n + pb + pe - span) / s;
      let o = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
      if (ceil && (o - 1) * s >= n + pb) o--;
      padBegin.push(pb); padEnd.push(pe); out.push(o);
    } else {
      fail(node, `unknown auto_pad '${autoPad}'`);
    }
    if (out[i]! < 1) fail(node, `window of ${span} does not fit input extent ${n}`);
  }
  // Window extents and pads reach the kernels as i32 words.
  checkI32(node, 'a pad or window extent', [...padBegin, ...padEnd, ...kernel.map((k, i) => (k - 1) * dilations[i]! + 1 + spatial[i]! + padBegin[i]! + padEnd[i]!)]);
  return { kernel, strides, dilations, padBegin, padEnd, out };
}

function spatialOf(node: GraphNode, shape: readonly number[]): number[] {
  if (shape.length === 5) fail(node, '3-D pooling is not supported');
  if (shape.length !== 3 && shape.length !== 4) fail(node, `expects a 3-D or 4-D input, got rank ${shape.length}`);
  return shape.slice(2);
}

function windowPoolShapes(node: GraphNode, ins: readonly (TensorArg | undefined)[]): number[][] {
  if (node.opType === 'MaxPool' && node.outputs.length > 1 && node.outputs[1] !== '') {
    fail(node, 'the optional Indices output is not supported');
  }
  const x = ins[0]!.shape;
  const g = poolGeometry(node, spatialOf(node, x));
  return [[x[0]!, x[1]!, ...g.out]];
}

function buildWindowPool(node: GraphNode, ins: readonly (TensorArg | undefined)[], outs: readonly number[][], ctx: BuildContext): KernelProgram {
  const x = ins[0]!.shape;
  const g = poolGeometry(node, spatialOf(node, x));
  // 1-D runs as a 2-D pool over a 1 x L plane.
  const two = g.kernel.length === 2;
  const [H, W] = two ? [x[2]!, x[3]!] : [1, x[2]!];
  const pick = (a: number[], one: number): [number, number] => (two ? [a[0]!, a[1]!] : [one, a[0]!]);
  const [OH, OW] = pick(g.out, 1);
  const [kH, kW] = pick(g.kernel, 1);
  const [sH, sW] = pick(g.strides, 1);
  const [dH, dW] = pick(g.dilations, 1);
  const [pT, pL] = pick(g.padBegin, 0);
  const [pB, pR] = pick(g.padEnd, 0);
  const OWB = Math.ceil(OW / POOL_ROW_RUN);
  const total = (sizeOf(outs[0]!) / OW) * OWB;
  const isMax = node.opType === 'MaxPool';
  const countPad = !isMax && attrInt(node, 'count_include_pad', 0) === 1 ? 1 : 0;
  const uniform = packUniform([total, isMax ? 0 : 1, H, W, OH, OW, kH, kW, sH, sW, pT, pL, dH, dW, H + pB, W + pR, countPad, OWB, 0, 0]);
  return {
    dispatches: [{
      label: `${node.opType}:${node.name}`,
      pipeline: ctx.pipeline(POOL2D_WGSL),
      bindings: [{ input: 0 }, { output: 0 }, { uniform }],
      workgroups: grid1d(total, POOL_WG, ctx.traits.maxWorkgroupsPerDimension),
    }],
  };
}

/** MaxPool's gradient window geometry as the 16 fields of MAXPOOL_GRAD_WGSL's uniform. */
function maxGradUniform(total: number, H: number, W: number, OH: number, OW: number, k: [number, number], s: [number, number], p: [number, number], d: [number, number]): ArrayBuffer {
  return packUniform([total, 0, H, W, OH, OW, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], 0, 0]);
}

/**
 * One spatial axis of AveragePool's adjoint: input coordinate t gathers every window o covering
 * it, weighted by 1 / (the window's tap count along this axis). The divisor is a product over
 * axes either way (taps inside the input, or inside the padded extent with count_include_pad),
 * so the weights factor per axis.
 */
function avgPoolAxis(n: number, inStride: number, m: number, outStride: number, k: number, s: number, d: number, pb: number, pe: number, countPad: boolean): AdjointAxis {
  const lists: AdjointTerm[][] = Array.from({ length: n }, () => []);
  for (let o = 0; o < m; o++) {
    const taps: number[] = [];
    let padded = 0;
    for (let j = 0; j < k; j++) {
      const t = o * s - pb + j * d;
      if (t >= -pb && t < n + pe) padded++;
      if (t >= 0 && t < n) taps.push(t);
    }
    const div = countPad ? padded : taps.length;
    for (const t of taps) lists[t]!.push([o * outStride, 1 / div]);
  }
  return { inStride, lists };
}

function windowPoolBackward(node: GraphNode, ins: readonly (TensorArg | undefined)[], outs: readonly number[][], ctx: BuildContext, wants: readonly boolean[]): KernelProgram {
  if (!wants[0]) return { dispatches: [] };
  const x = ins[0]!.shape;
  const g = poolGeometry(node, spatialOf(node, x));
  const two = g.kernel.length === 2;
  const [H, W] = two ? [x[2]!, x[3]!] : [1, x[2]!];
  const pick = (a: number[], one: number): [number, number] => (two ? [a[0]!, a[1]!] : [one, a[0]!]);
  const [OH, OW] = pick(g.out, 1);
  const kk = pick(g.kernel, 1), ss = pick(g.strides, 1), dd = pick(g.dilations, 1), pb = pick(g.padBegin, 0), pe = pick(g.padEnd, 0);
  const planes = x[0]! * x[1]!;
  const label = `${node.opType}Grad:${node.name}`;
  if (node.opType === 'AveragePool') {
    const countPad = attrInt(node, 'count_include_pad', 0) === 1;
    const axes: AdjointAxis[] = [
      { inStride: H * W, lists: Array.from({ length: planes }, (_, p) => [[p * OH * OW, 1]]) },
      avgPoolAxis(H, W, OH, OW, kk[0], ss[0], dd[0], pb[0], pe[0], countPad),
      avgPoolAxis(W, 1, OW, 1, kk[1], ss[1], dd[1], pb[1], pe[1], countPad),
    ];
    const d = adjointDispatch(ctx, label, { axes }, { gradOutput: 0 }, { gradInput: 0 });
    return { dispatches: d ? [d] : [] };
  }
  // Windows that never share an element let each window add into its own argmax.
  const disjoint = [0, 1].every((a) => (kk[a]! - 1) * dd[a]! + 1 <= ss[a]!);
  const total = disjoint ? sizeOf(outs[0]!) : sizeOf(x);
  return {
    dispatches: [{
      label,
      pipeline: ctx.pipeline(MAXPOOL_GRAD_WGSL, disjoint ? 'scatterMain' : 'gatherMain'),
      bindings: [{ input: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform: maxGradUniform(total, H, W, OH, OW, kk, ss, pb, dd) }],
      workgroups: grid1d(total, POOL_WG, ctx.traits.maxWorkgroupsPerDimension),
    }],
  };
}

const windowPool: OpDef = {
  opTypes: ['MaxPool', 'AveragePool'],
  schema: POOL_SCHEMA,
  inferShapes: windowPoolShapes,
  build: buildWindowPool,
  backward: windowPoolBackward,
};

/** Which global-pool kernel suits a job: one workgroup per plane only when planes are large. */
export function globalPoolVariant(planeSize: number, planes: number, traits: Pick<AdapterTraits, 'isSoftware'>): 'thread' | 'workgroup' {
  // A software rasteriser runs each invocation's loop at CPU speed, so per-plane threads win unless
  // the planes are huge and too few to occupy the cores; real GPUs need the parallelism sooner.
  const threshold = traits.isSoftware ? 4096 : 256;
  return planeSize >= threshold && planes < 4096 ? 'workgroup' : 'thread';
}

const globalPool: OpDef = {
  opTypes: ['GlobalAveragePool', 'GlobalMaxPool'],
  schema: POOL_SCHEMA,
  inferShapes(node, ins) {
    const x = ins[0]!.shape;
    if (x.length < 3) fail(node, `expects rank >= 3, got ${x.length}`);
    return [[x[0]!, x[1]!, ...x.slice(2).map(() => 1)]];
  },
  build(node, ins, _outs, ctx) {
    const x = ins[0]!.shape;
    const planes = x[0]! * x[1]!;
    const size = sizeOf(x.slice(2));
    const kind = node.opType === 'GlobalAveragePool' ? 1 : 0;
    const uniform = packUniform([planes, size, kind, 0]);
    const variant = globalPoolVariant(size, planes, ctx.traits);
    const wgsl = variant === 'workgroup' ? GLOBAL_POOL_WORKGROUP_WGSL : GLOBAL_POOL_THREAD_WGSL;
    const workgroups = variant === 'workgroup'
      ? grid1d(planes, 1, ctx.traits.maxWorkgroupsPerDimension)
      : grid1d(planes, POOL_WG, ctx.traits.maxWorkgroupsPerDimension);
    return { dispatches: [{ label: `${node.opType}:${node.name}`, pipeline: ctx.pipeline(wgsl), bindings: [{ input: 0 }, { output: 0 }, { uniform }], workgroups }] };
  },
  backward(node, ins, _outs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const x = ins[0]!.shape;
    const planes = x[0]! * x[1]!;
    const size = sizeOf(x.slice(2));
    const label = `${node.opType}Grad:${node.name}`;
    if (node.opType === 'GlobalAveragePool') {
      const axes: AdjointAxis[] = [
        { inStride: size, lists: Array.from({ length: planes }, (_, p) => [[p, 1]]) },
        { inStride: 1, lists: Array.from({ length: size }, () => [[0, 1 / size]]) },
      ];
      const d = adjointDispatch(ctx, label, { axes }, { gradOutput: 0 }, { gradInput: 0 });
      return { dispatches: d ? [d] : [] };
    }
    // GlobalMaxPool: one window per plane, so the disjoint-window (scatter) MaxPool gradient.
    return {
      dispatches: [{
        label,
        pipeline: ctx.pipeline(MAXPOOL_GRAD_WGSL, 'scatterMain'),
        bindings: [{ input: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform: maxGradUniform(planes, 1, size, 1, 1, [1, size], [1, size], [0, 0], [1, 1]) }],
        workgroups: grid1d(planes, POOL_WG, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
};

const lrn: OpDef = {
  opTypes: ['LRN'],
  schema: POOL_SCHEMA,
  inferShapes(node, ins) {
    const x = ins[0]!.shape;
    if (x.length < 2) fail(node, `expects rank >= 2, got ${x.length}`);
    const size = attrInt(node, 'size', 0);
    if (size < 1) fail(node, 'attribute size must be a positive integer');
    return [[...x]];
  },
  build(node, ins, outs, ctx) {
    const x = ins[0]!.shape;
    const size = attrInt(node, 'size', 0);
    const alpha = attrFloat(node, 'alpha', 1e-4);
    const beta = attrFloat(node, 'beta', 0.75);
    const bias = attrFloat(node, 'bias', 1);
    const total = sizeOf(outs[0]!);
    const lo = Math.floor((size - 1) / 2);
    const hi = Math.ceil((size - 1) / 2);
    const uniform = packUniform([total, x[1]!, sizeOf(x.slice(2)), lo, hi, { f32: alpha / size }, { f32: beta }, { f32: bias }]);
    return {
      dispatches: [{
        label: `LRN:${node.name}`,
        pipeline: ctx.pipeline(LRN_WGSL),
        bindings: [{ input: 0 }, { output: 0 }, { uniform }],
        workgroups: grid1d(total, POOL_WG, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  backward(node, ins, _outs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const x = ins[0]!.shape;
    const size = attrInt(node, 'size', 0);
    const total = sizeOf(x);
    const uniform = packUniform([total, x[1]!, sizeOf(x.slice(2)), Math.floor((size - 1) / 2), Math.ceil((size - 1) / 2),
      { f32: attrFloat(node, 'alpha', 1e-4) / size }, { f32: attrFloat(node, 'beta', 0.75) }, { f32: attrFloat(node, 'bias', 1) }]);
    return {
      dispatches: [{
        label: `LRNGrad:${node.name}`,
        pipeline: ctx.pipeline(LRN_GRAD_WGSL),
        bindings: [{ input: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform }],
        workgroups: grid1d(total, POOL_WG, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
};

/** Kernel definitions of the pooling family. */
export const poolOps: OpDef[] = [windowPool, globalPool, lrn];
