/**
 * Resize (opsets 10..19) and Upsample (7..9): nearest and bilinear over the last two dims; every
 * leading dim must keep its size. `resize2dDispatch` is the reusable entry for other kernels
 * (mask upsampling in the explainers).
 */
import type { BindingRef, BuildContext, Dispatch, OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt, attrInts, attrString } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { sizeOf } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { RESIZE2D_WGSL, RESIZE_WG } from '../wgsl/resize.js';
import { adjointDispatch, type AdjointAxis, type AdjointTerm } from './layout-grad.js';
import { sig } from './schema.js';

const RESIZE_11 = { coordinate_transformation_mode: 'string', cubic_coeff_a: 'float', exclude_outside: 'int', extrapolation_value: 'float', mode: 'string', nearest_mode: 'string' } as const;
/** Signatures per opset (ONNX's Operators.md); Upsample-7 took its scales as an attribute. */
const RESIZE_SCHEMA: OpSchema = {
  Resize: [sig(10, 2, 1, { mode: 'string' }), sig(11, [3, 4], 1, RESIZE_11), sig(13, [1, 4], 1, RESIZE_11),
    sig(18, [1, 4], 1, { ...RESIZE_11, antialias: 'int', axes: 'ints', keep_aspect_ratio_policy: 'string' })],
  Upsample: [sig(7, 1, 1, { mode: 'string', scales: 'floats' }, ['scales']), sig(9, 2, 1, { mode: 'string' })],
};
import type { OpSchema } from './types.js';

/** ONNX coordinate_transformation_mode values supported. */
export type CoordMode = 'half_pixel' | 'asymmetric' | 'align_corners' | 'pytorch_half_pixel' | 'tf_half_pixel_for_nearest';
const COORD_MODES: readonly string[] = ['half_pixel', 'asymmetric', 'align_corners', 'pytorch_half_pixel', 'tf_half_pixel_for_nearest'];
/** ONNX nearest_mode values, plus `simple`: Upsample's and Resize-10's floor (ceil when shrinking). */
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'simple';
const NEAREST_MODES: readonly string[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** A resize of the last two dims of a [batch, inH, inW] view. */
export interface Resize2dParams {
  batch: number;
  inH: number; inW: number;
  outH: number; outW: number;
  /** Output/input ratio used by the coordinate transform (ONNX: the given scale, or out/in for sizes). */
  scaleH: number; scaleW: number;
  /**
   * Resized lengths for align_corners / pytorch_half_pixel; default outH/outW. ONNX's reference
   * uses the unrounded in * scale when scales are given.
   */
  lenH?: number; lenW?: number;
  mode: 'nearest' | 'linear';
  coord: CoordMode;
  nearest: NearestMode;
}

/** Source coordinate of output index `o` along an axis of length n resized to length m (ONNX formulas, float64). */
export function resizeSourceCoord(o: number, n: number, m: number, scale: number, coord: CoordMode): number {
  switch (coord) {
    case 'half_pixel': return (o + 0.5) / scale - 0.5;
    case 'asymmetric': return o / scale;
    case 'align_corners': return m === 1 ? 0 : (o * (n - 1)) / (m - 1);
    case 'pytorch_half_pixel': return m > 1 ? (o + 0.5) / scale - 0.5 : 0;
    case 'tf_half_pixel_for_nearest': return (o + 0.5) / scale;
  }
}

function roundNearest(x: number, mode: NearestMode, scale: number): number {
  switch (mode) {
    case 'round_prefer_floor': return Math.ceil(x - 0.5);
    case 'round_prefer_ceil': return Math.floor(x + 0.5);
    case 'floor': return Math.floor(x);
    case 'ceil': return Math.ceil(x);
    case 'simple': return scale < 1 ? Math.ceil(x) : Math.floor(x);
  }
}

/** Per-axis (i0, i1, weight) triples for one axis, as the kernel's table expects. */
export function resizeAxisTable(n: number, m: number, scale: number, mode: 'nearest' | 'linear', coord: CoordMode, nearest: NearestMode, len = m): number[] {
  const clampI = (i: number): number => Math.min(Math.max(i, 0), n - 1);
  const out: number[] = [];
  for (let o = 0; o < m; o++) {
    const x = resizeSourceCoord(o, n, len, scale, coord);
    if (mode === 'nearest') {
      const i = clampI(roundNearest(x, nearest, scale));
      out.push(i, i, 0);
    } else {
      // Taps past the edge clamp, as the ONNX reference pads with edge values.
      const f = Math.floor(x);
      out.push(clampI(f), clampI(f + 1), x - f);
    }
  }
  return out;
}

/** One dispatch resizing `src` into `dst` (both contiguous f32 [batch, h, w]); builds its tap table. */
export function resize2dDispatch(ctx: BuildContext, label: string, p: Resize2dParams, src: BindingRef, dst: BindingRef): Dispatch {
  const total = p.batch * p.outH * p.outW;
  const table = Float32Array.from([
    ...resizeAxisTable(p.inH, p.outH, p.scaleH, p.mode, p.coord, p.nearest, p.lenH),
    ...resizeAxisTable(p.inW, p.outW, p.scaleW, p.mode, p.coord, p.nearest, p.lenW),
  ]);
  const uniform = packUniform([total, p.mode === 'linear' ? 1 : 0, p.inH, p.inW, p.outH, p.outW, 0, 0]);
  return {
    label,
    pipeline: ctx.pipeline(RESIZE2D_WGSL),
    bindings: [src, { buffer: ctx.constBuffer(table, `${label}:taps`) }, dst, { uniform }],
    workgroups: grid1d(total, RESIZE_WG, ctx.traits.maxWorkgroupsPerDimension),
  };
}

/**
 * One axis of the resize adjoint from the forward tap table: input index i gathers the output
 * positions that read it, weighted as the forward interpolation weighs it (1 - w for the first tap,
 * w for the second); taps clamped onto the same index add up.
 */
function resizeAdjointAxis(n: number, inStride: number, table: readonly number[], outStride: number, linear: boolean): AdjointAxis {
  const lists: AdjointTerm[][] = Array.from({ length: n }, () => []);
  for (let o = 0; o < table.length / 3; o++) {
    const i0 = table[3 * o]!, i1 = table[3 * o + 1]!;
    // The forward kernel mixes in f32: use the weight it actually applies.
    const w = Math.fround(table[3 * o + 2]!);
    const terms: [number, number][] = linear ? (i0 === i1 ? [[i0, 1]] : [[i0, 1 - w], [i1, w]]) : [[i0, 1]];
    for (const [i, wt] of terms) if (wt !== 0) lists[i]!.push([o * outStride, wt]);
  }
  return { inStride, lists };
}

/** The dispatch adding the adjoint of `resize2dDispatch(p)` applied to `gradOut` into `gradIn`. */
export function resize2dAdjointDispatch(ctx: BuildContext, label: string, p: Resize2dParams, gradOut: BindingRef, gradIn: BindingRef): Dispatch | undefined {
  const linear = p.mode === 'linear';
  const axes: AdjointAxis[] = [
    { inStride: p.inH * p.inW, lists: Array.from({ length: p.batch }, (_, b) => [[b * p.outH * p.outW, 1]]) },
    resizeAdjointAxis(p.inH, p.inW, resizeAxisTable(p.inH, p.outH, p.scaleH, p.mode, p.coord, p.nearest, p.lenH), p.outW, linear),
    resizeAdjointAxis(p.inW, 1, resizeAxisTable(p.inW, p.outW, p.scaleW, p.mode, p.coord, p.nearest, p.lenW), 1, linear),
  ];
  return adjointDispatch(ctx, label, { axes }, gradOut, gradIn);
}

function fail(node: GraphNode, msg: string): never {
  throw new GraphError(`${node.opType} '${node.name}': ${msg}`);
}

function present(node: GraphNode, ins: readonly (TensorArg | undefined)[], i: number): TensorArg | undefined {
  const t = (node.inputs[i] ?? '') !== '' ? ins[i] : undefined;
  // Exporters pass empty tensors for "not given" before opset 13 made inputs optional.
  return t && sizeOf(t.shape) > 0 ? t : undefined;
}

function hostValues(node: GraphNode, t: TensorArg, what: string): number[] {
  if (!t.constant) fail(node, `${what} must be known when the model is loaded`);
  return Array.from(t.constant.data, Number);
}

interface ResizePlan { out: number[]; scales: number[]; lengths: number[]; mode: 'nearest' | 'linear'; coord: CoordMode; nearest: NearestMode }

function resizePlan(node: GraphNode, ins: readonly (TensorArg | undefined)[]): ResizePlan {
  const x = ins[0]!.shape;
  const r = x.length;
  const legacy = node.opType === 'Upsample' || node.inputs.length === 2;
  const modeName = attrString(node, 'mode', 'nearest');
  const mode = modeName === 'nearest' ? 'nearest' : modeName === 'linear' || modeName === 'bilinear' ? 'linear' : fail(node, `mode '${modeName}' is not supported`);
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  let coord: CoordMode = 'asymmetric';
  let nearest: NearestMode = 'simple';
  if (legacy) {
    const sIn = node.opType === 'Upsample' ? attrFloatsOf(node, 'scales') : undefined;
    scales = sIn ?? hostValues(node, present(node, ins, 1) ?? fail(node, 'scales are missing'), 'scales');
  } else {
    const cm0 = attrString(node, 'coordinate_transformation_mode', 'half_pixel');
    // Early opset-11 exporters (and ONNX's own 1.5 test data) spell the mode 'tf_half_pixel_for_nn'.
    const cm = cm0 === 'tf_half_pixel_for_nn' ? 'tf_half_pixel_for_nearest' : cm0;
    if (!COORD_MODES.includes(cm)) fail(node, `coordinate_transformation_mode '${cm}' is not supported`);
    coord = cm as CoordMode;
    const nm = attrString(node, 'nearest_mode', 'round_prefer_floor');
    if (!NEAREST_MODES.includes(nm)) fail(node, `nearest_mode '${nm}' is not supported`);
    nearest = nm as NearestMode;
    if (attrInt(node, 'antialias', 0) !== 0) fail(node, 'antialias is not supported');
    const s = present(node, ins, 2);
    const z = present(node, ins, 3);
    if (s && z) fail(node, 'both scales and sizes are given');
    if (s) scales = hostValues(node, s, 'scales');
    else if (z) sizes = hostValues(node, z, 'sizes');
    else fail(node, 'neither scales nor sizes is given');
  }
  const axes = (attrInts(node, 'axes') ?? Array.from({ length: (scales ?? sizes)!.length }, (_, i) => i)).map((a) => (a < 0 ? a + r : a));
  if (axes.length !== (scales ?? sizes)!.length || axes.some((a) => a < 0 || a >= r)) fail(node, `scales/sizes do not match rank ${r}`);
  const fullScales = new Array<number>(r).fill(1);
  const out = [...x];
  const lengths = [...x];
  if (scales) {
    axes.forEach((a, i) => { fullScales[a] = scales![i]!; lengths[a] = x[a]! * scales![i]!; out[a] = Math.floor(lengths[a]!); });
  } else {
    const policy = attrString(node, 'keep_aspect_ratio_policy', 'stretch');
    if (policy === 'stretch') {
      axes.forEach((a, i) => { out[a] = sizes![i]!; lengths[a] = out[a]!; fullScales[a] = sizes![i]! / x[a]!; });
    } else {
      const ratios = axes.map((a, i) => sizes![i]! / x[a]!);
      const s = policy === 'not_larger' ? Math.min(...ratios) : policy === 'not_smaller' ? Math.max(...ratios) : fail(node, `keep_aspect_ratio_policy '${policy}' is not supported`);
      axes.forEach((a) => { fullScales[a] = s; out[a] = Math.round(x[a]! * s); lengths[a] = out[a]!; });
    }
  }
  if (out.some((d) => d < 1) || fullScales.some((s) => !(s > 0))) fail(node, `invalid output size [${out}]`);
  for (let k = 0; k < r - 2; k++) {
    if (out[k] !== x[k]) fail(node, `only the last two dims can be resized (dim ${k}: ${x[k]} -> ${out[k]})`);
  }
  return { out, scales: fullScales, lengths, mode, coord, nearest };
}

function attrFloatsOf(node: GraphNode, key: string): number[] | undefined {
  const v = node.attrs[key];
  return Array.isArray(v) ? (v as unknown[]).map(Number) : undefined;
}

/** The 2-D resize a Resize / Upsample node performs (leading dims folded into the batch). */
function resizeParams(node: GraphNode, ins: readonly (TensorArg | undefined)[]): Resize2dParams {
  const p = resizePlan(node, ins);
  const x = ins[0]!.shape;
  const r = x.length;
  const two = r >= 2;
  return {
    batch: sizeOf(x.slice(0, Math.max(0, r - 2))),
    inH: two ? x[r - 2]! : 1, inW: x[r - 1]!,
    outH: two ? p.out[r - 2]! : 1, outW: p.out[r - 1]!,
    scaleH: two ? p.scales[r - 2]! : 1, scaleW: p.scales[r - 1]!,
    lenH: two ? p.lengths[r - 2]! : 1, lenW: p.lengths[r - 1]!,
    mode: p.mode, coord: p.coord, nearest: p.nearest,
  };
}

const resize: OpDef = {
  opTypes: ['Resize', 'Upsample'],
  schema: RESIZE_SCHEMA,
  hostInputs: (node) => node.inputs.map((_, i) => i).filter((i) => i > 0),
  inferShapes(node, ins) {
    const m = attrString(node, 'mode', 'nearest');
    if (m === 'cubic') fail(node, 'cubic interpolation is not supported');
    if (attrString(node, 'coordinate_transformation_mode', '') === 'tf_crop_and_resize') fail(node, 'tf_crop_and_resize is not supported');
    if (ins[0]!.shape.length < 1) fail(node, 'cannot resize a scalar');
    return [resizePlan(node, ins).out];
  },
  build(node, ins, outs, ctx) {
    if (sizeOf(outs[0]!) === 0) return { dispatches: [] };
    return { dispatches: [resize2dDispatch(ctx, `${node.opType}:${node.name}`, resizeParams(node, ins), { input: 0 }, { output: 0 })] };
  },
  backward(node, ins, outs, ctx, wants) {
    if (!wants[0] || sizeOf(outs[0]!) === 0) return { dispatches: [] };
    const d = resize2dAdjointDispatch(ctx, `${node.opType}Grad:${node.name}`, resizeParams(node, ins), { gradOutput: 0 }, { gradInput: 0 });
    return { dispatches: d ? [d] : [] };
  },
};

/** Kernel definitions of the resize family. */
export const resizeOps: OpDef[] = [resize];
