/**
 * Data movement: Concat, Split, Transpose, Slice, Expand, Tile (all as strided copies), Pad and
 * Gather. The copy ops describe their work as `CopyPlan`s, which both the GPU build and the host
 * evaluation (constant folding of integer shape arithmetic) execute, so the two cannot disagree.
 */
import type { BindingRef, BuildContext, Dispatch, KernelProgram, OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrFloat, attrInt, attrInts, attrString } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { hostTensor, isFloatDType, sizeOf, stridesOf, type HostTensor } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { adjointDispatch, pullAxis, type AdjointSpec, type AdjointTerm } from './layout-grad.js';
import { GATHER_WGSL, LAYOUT_MAX_RANK, LAYOUT_WG, PAD_WGSL, stridedCopyWgsl } from '../wgsl/layout.js';
import { VARIADIC as ANY, sig } from './schema.js';

const I64S = { type: 'ints', int64: true } as const;
const padMode = (modes: string[]) => ({ mode: { type: 'string', oneOf: modes } }) as const;
/** Signatures of the layout family per opset (ONNX's Operators.md). */
const LAYOUT_SCHEMA: OpSchema = {
  Concat: [sig(1, [1, ANY], 1, { axis: 'int' }), sig(4, [1, ANY], 1, { axis: 'int' }, ['axis'])],
  Split: [sig(1, [1, 2], [1, ANY], { axis: 'int', split: 'ints' }), sig(2, 1, [1, ANY], { axis: 'int', split: 'ints' }),
    sig(13, [1, 2], [1, ANY], { axis: 'int' }), sig(18, [1, 2], [1, ANY], { axis: 'int', num_outputs: { type: 'int', min: 1 } })],
  Transpose: [sig(1, 1, 1, { perm: 'ints' })],
  Slice: [sig(1, 1, 1, { axes: 'ints', starts: I64S, ends: I64S }, ['starts', 'ends']), sig(10, [3, 5])],
  Expand: [sig(8, 2)],
  Tile: [sig(1, 3), sig(6, 2)],
  Pad: [sig(1, 1, 1, { ...padMode(['constant', 'reflect', 'edge']), paddings: 'ints', value: 'float' }, ['paddings']),
    sig(2, 1, 1, { ...padMode(['constant', 'reflect', 'edge']), pads: 'ints', value: 'float' }, ['pads']),
    sig(11, [2, 3], 1, padMode(['constant', 'reflect', 'edge'])), sig(18, [2, 4], 1, padMode(['constant', 'reflect', 'edge'])),
    sig(19, [2, 4], 1, padMode(['constant', 'reflect', 'edge', 'wrap']))],
  Gather: [sig(1, 2, 1, { axis: 'int' })],
};
import type { OpSchema } from './types.js';

/**
 * One strided copy: for every coordinate c of `iter`, dst[dstBase + c . dstStrides] =
 * src[srcBase + (c mod srcDims) . srcStrides]. Dims are ordered outermost first.
 */
export interface CopyPlan {
  iter: number[];
  srcDims: number[];
  srcStrides: number[];
  dstStrides: number[];
  srcBase: number;
  dstBase: number;
}

/** A copy from one op input into one op output. */
interface CopyJob { input: number; output: number; plan: CopyPlan }

function fail(node: GraphNode, msg: string): never {
  throw new GraphError(`${node.opType} '${node.name}': ${msg}`);
}

function normAxis(node: GraphNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) fail(node, `axis ${axis} out of range for rank ${rank}`);
  return a;
}

function constInts(node: GraphNode, arg: TensorArg | undefined, what: string): number[] {
  if (!arg?.constant) fail(node, `${what} must be known when the model is loaded`);
  return Array.from(arg.constant.data, Number);
}

/** Whether optional input i is present (named and passed). */
function has(node: GraphNode, ins: readonly (TensorArg | undefined)[], i: number): boolean {
  return (node.inputs[i] ?? '') !== '' && ins[i] !== undefined;
}

/** A plain contiguous-to-contiguous plan over `shape`, to be adjusted by the caller. */
function identityPlan(shape: readonly number[]): CopyPlan {
  const st = stridesOf(shape);
  return { iter: [...shape], srcDims: [...shape], srcStrides: st, dstStrides: [...st], srcBase: 0, dstBase: 0 };
}

/**
 * The same copy with fewer dims: size-1 dims dropped, broadcast dims turned into zero strides,
 * and neighbours that are contiguous in both source and destination merged.
 */
export function simplifyPlan(p: CopyPlan): CopyPlan {
  const out: CopyPlan = { iter: [], srcDims: [], srcStrides: [], dstStrides: [], srcBase: p.srcBase, dstBase: p.dstBase };
  // Walk from the innermost dim outwards, building the result reversed.
  for (let k = p.iter.length - 1; k >= 0; k--) {
    const n = p.iter[k]!;
    if (n === 1) continue;
    let sd = p.srcDims[k]!, ss = p.srcStrides[k]!;
    if (sd === 1) { sd = n; ss = 0; }
    const ds = p.dstStrides[k]!;
    const j = out.iter.length - 1;
    if (j >= 0 && sd === n && out.srcDims[j] === out.iter[j] &&
        ss === out.srcStrides[j]! * out.iter[j]! && ds === out.dstStrides[j]! * out.iter[j]!) {
      out.iter[j] = out.iter[j]! * n;
      out.srcDims[j] = out.iter[j]!;
      continue;
    }
    out.iter.push(n); out.srcDims.push(sd); out.srcStrides.push(ss); out.dstStrides.push(ds);
  }
  out.iter.reverse(); out.srcDims.reverse(); out.srcStrides.reverse(); out.dstStrides.reverse();
  if (out.iter.length === 0) { out.iter.push(1); out.srcDims.push(1); out.srcStrides.push(0); out.dstStrides.push(0); }
  return out;
}

/** Runs a plan on the host (constant folding). */
export function runPlanHost(p: CopyPlan, src: ArrayLike<number>, dst: { [i: number]: number }): void {
  const total = sizeOf(p.iter);
  const r = p.iter.length;
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < total; i++) {
    let s = p.srcBase, d = p.dstBase;
    for (let k = 0; k < r; k++) { s += (c[k]! % p.srcDims[k]!) * p.srcStrides[k]!; d += c[k]! * p.dstStrides[k]!; }
    dst[d] = src[s]!;
    for (let k = r - 1; k >= 0; k--) { if (++c[k]! < p.iter[k]!) break; c[k] = 0; }
  }
}

function slots6(a: readonly number[]): number[] {
  return [...a, ...new Array<number>(8 - a.length).fill(0)];
}

/**
 * Whether a (simplified) plan can move vec4s: the innermost dim is a contiguous run of a multiple
 * of 4 on both sides, every other stride and both bases are multiples of 4, and both tensors hold
 * a multiple of 4 floats (so their vec4 views cover them exactly).
 */
export function canCopyVec4(p: CopyPlan, srcSize: number, dstSize: number): boolean {
  const k = p.iter.length - 1;
  const n = p.iter[k]!;
  const m4 = (v: number): boolean => v % 4 === 0;
  return n % 4 === 0 && p.srcDims[k] === n && p.srcStrides[k] === 1 && p.dstStrides[k] === 1 &&
    p.srcStrides.slice(0, k).every(m4) && p.dstStrides.slice(0, k).every(m4) &&
    m4(p.srcBase) && m4(p.dstBase) && m4(srcSize) && m4(dstSize);
}

/** The plan in units of vec4 (only valid when `canCopyVec4`). */
function toVec4(p: CopyPlan): CopyPlan {
  const k = p.iter.length - 1;
  const q = (v: number): number => v / 4;
  return {
    iter: p.iter.map((n, i) => (i === k ? n / 4 : n)),
    srcDims: p.srcDims.map((n, i) => (i === k ? n / 4 : n)),
    srcStrides: p.srcStrides.map((s, i) => (i === k ? 1 : q(s))),
    dstStrides: p.dstStrides.map((s, i) => (i === k ? 1 : q(s))),
    srcBase: q(p.srcBase), dstBase: q(p.dstBase),
  };
}

/**
 * The strided-copy dispatch for a plan between two bindings holding `srcSize` and `dstSize` floats
 * (exported for reuse by other ops); undefined when there is nothing to copy.
 */
export function stridedCopyDispatch(ctx: BuildContext, label: string, plan: CopyPlan, src: BindingRef, dst: BindingRef, srcSize: number, dstSize: number): Dispatch | undefined {
  let p = simplifyPlan(plan);
  if (sizeOf(p.iter) === 0) return undefined;
  if (p.iter.length > LAYOUT_MAX_RANK) throw new GraphError(`${label}: rank ${p.iter.length} exceeds ${LAYOUT_MAX_RANK} after merging dims`);
  const vec4 = canCopyVec4(p, srcSize, dstSize);
  if (vec4) p = toVec4(p);
  const total = sizeOf(p.iter);
  const uniform = packUniform([total, p.srcBase, p.dstBase, p.iter.length, ...slots6(p.iter), ...slots6(p.srcDims), ...slots6(p.srcStrides), ...slots6(p.dstStrides)]);
  return {
    label,
    pipeline: ctx.pipeline(stridedCopyWgsl(vec4, p.iter.length)),
    bindings: [src, dst, { uniform }],
    workgroups: grid1d(total, LAYOUT_WG, ctx.traits.maxWorkgroupsPerDimension),
  };
}

/**
 * The adjoint of a copy plan: iteration axis k reads source coordinate j = c_k mod srcDims_k, so
 * source coordinate j gathers the destinations c = j, j + srcDims_k, ... (Tile; all of them for a
 * broadcast axis). Source elements outside the plan (sliced away) gather nothing.
 */
export function planAdjoint(p: CopyPlan): AdjointSpec {
  return {
    inBase: p.srcBase,
    outBase: p.dstBase,
    axes: p.iter.map((n, k) => {
      const d = p.srcDims[k]!;
      const lists: AdjointTerm[][] = Array.from({ length: Math.min(d, n) }, () => []);
      for (let c = 0; c < n; c++) lists[c % d]!.push([c * p.dstStrides[k]!, 1]);
      return { inStride: p.srcStrides[k]!, lists };
    }),
  };
}

type ShapeFn = (node: GraphNode, ins: readonly (TensorArg | undefined)[]) => number[][];
type JobsFn = (node: GraphNode, ins: readonly (TensorArg | undefined)[], outs: readonly number[][]) => CopyJob[];

/** An OpDef whose work is a list of strided copies: GPU build and host evaluation from one plan. */
function copyOp(opTypes: string[], inferShapes: ShapeFn, jobs: JobsFn, hostInputs: readonly number[] = []): OpDef {
  return {
    opTypes,
    schema: LAYOUT_SCHEMA,
    inferShapes,
    hostInputs: () => hostInputs,
    evalHost(node, ins) {
      const outs = inferShapes(node, ins);
      const list = jobs(node, ins, outs);
      const dtype = ins[0]?.constant?.dtype;
      if (!dtype || list.some((j) => !ins[j.input]?.constant)) return undefined;
      const data = outs.map((s) => (isFloatDType(dtype) ? new Float32Array(sizeOf(s)) : new Float64Array(sizeOf(s))));
      for (const j of list) runPlanHost(j.plan, ins[j.input]!.constant!.data, data[j.output]!);
      return outs.map((s, i) => hostTensor(dtype, s, data[i]!));
    },
    build(node, ins, outs, ctx): KernelProgram {
      const dispatches: Dispatch[] = [];
      for (const j of jobs(node, ins, outs)) {
        const d = stridedCopyDispatch(ctx, `${node.opType}:${node.name}`, j.plan, { input: j.input }, { output: j.output },
          sizeOf(ins[j.input]!.shape), sizeOf(outs[j.output]!));
        if (d) dispatches.push(d);
      }
      return { dispatches };
    },
    backward(node, ins, outs, ctx, wants): KernelProgram {
      const dispatches: Dispatch[] = [];
      for (const j of jobs(node, ins, outs)) {
        if (!wants[j.input]) continue;
        const d = adjointDispatch(ctx, `${node.opType}Grad:${node.name}`, planAdjoint(j.plan), { gradOutput: j.output }, { gradInput: j.input });
        if (d) dispatches.push(d);
      }
      return { dispatches };
    },
  };
}

// ---- Concat ----------------------------------------------------------------------------------

function concatShapes(node: GraphNode, ins: readonly (TensorArg | undefined)[]): number[][] {
  const shapes = ins.map((t, i) => t?.shape ?? fail(node, `input ${i} is missing`));
  const first = shapes[0] ?? fail(node, 'needs at least one input');
  const axis = normAxis(node, attrInt(node, 'axis', NaN), first.length);
  const out = [...first];
  out[axis] = 0;
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, k) => k !== axis && d !== first[k])) {
      fail(node, `input shapes [${first}] and [${s}] do not match off axis ${axis}`);
    }
    out[axis]! += s[axis]!;
  }
  return [out];
}

const concat = copyOp(['Concat'], concatShapes, (node, ins, outs) => {
  const out = outs[0]!;
  const axis = normAxis(node, attrInt(node, 'axis', NaN), out.length);
  const ost = stridesOf(out);
  let off = 0;
  return ins.map((t, i) => {
    const plan = identityPlan(t!.shape);
    plan.dstStrides = [...ost];
    plan.dstBase = off * ost[axis]!;
    off += t!.shape[axis]!;
    return { input: i, output: 0, plan };
  });
});

// ---- Split -----------------------------------------------------------------------------------

function splitSizes(node: GraphNode, ins: readonly (TensorArg | undefined)[]): { axis: number; sizes: number[] } {
  const x = ins[0]!.shape;
  const axis = normAxis(node, attrInt(node, 'axis', 0), x.length);
  const len = x[axis]!;
  const nOut = node.outputs.length;
  let sizes = attrInts(node, 'split');
  if (!sizes && has(node, ins, 1)) sizes = constInts(node, ins[1], 'split sizes');
  if (!sizes) {
    const parts = attrInt(node, 'num_outputs', nOut);
    if (parts < 1) fail(node, 'num_outputs must be positive');
    // Opset 18: an uneven split makes the last chunk smaller.
    const chunk = Math.ceil(len / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, len - i * chunk)));
    if (len % parts !== 0 && node.attrs['num_outputs'] === undefined) fail(node, `axis length ${len} does not split evenly into ${parts}`);
  }
  if (sizes.length !== nOut) fail(node, `${sizes.length} split sizes for ${nOut} outputs`);
  if (sizes.some((s) => s < 0) || sizes.reduce((a, b) => a + b, 0) !== len) fail(node, `split sizes [${sizes}] do not sum to ${len}`);
  return { axis, sizes };
}

const split = copyOp(['Split'], (node, ins) => {
  const { axis, sizes } = splitSizes(node, ins);
  return sizes.map((s) => { const o = [...ins[0]!.shape]; o[axis] = s; return o; });
}, (node, ins, outs) => {
  const { axis } = splitSizes(node, ins);
  const ist = stridesOf(ins[0]!.shape);
  let off = 0;
  return outs.map((o, k) => {
    const plan = identityPlan(o);
    plan.srcStrides = [...ist];
    plan.srcBase = off * ist[axis]!;
    off += o[axis]!;
    return { input: 0, output: k, plan };
  });
}, [1]);

// ---- Transpose -------------------------------------------------------------------------------

function permOf(node: GraphNode, rank: number): number[] {
  const perm = attrInts(node, 'perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) fail(node, `perm [${perm}] is not a permutation of rank ${rank}`);
  return perm;
}

const transpose = copyOp(['Transpose'], (node, ins) => {
  const x = ins[0]!.shape;
  return [permOf(node, x.length).map((p) => x[p]!)];
}, (node, ins, outs) => {
  const x = ins[0]!.shape;
  const ist = stridesOf(x);
  const perm = permOf(node, x.length);
  const plan = identityPlan(outs[0]!);
  plan.srcStrides = perm.map((p) => ist[p]!);
  return [{ input: 0, output: 0, plan }];
});

// ---- Slice -----------------------------------------------------------------------------------

interface SliceSpec { starts: number[]; steps: number[]; out: number[] }

function sliceSpec(node: GraphNode, ins: readonly (TensorArg | undefined)[]): SliceSpec {
  const x = ins[0]!.shape;
  const r = x.length;
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (node.attrs['starts'] !== undefined) {
    // Opset < 10: attributes, no steps.
    starts = attrInts(node, 'starts')!;
    ends = attrInts(node, 'ends') ?? fail(node, 'attribute ends is missing');
    axes = attrInts(node, 'axes');
  } else {
    starts = constInts(node, ins[1], 'starts');
    ends = constInts(node, ins[2], 'ends');
    if (has(node, ins, 3)) axes = constInts(node, ins[3], 'axes');
    if (has(node, ins, 4)) steps = constInts(node, ins[4], 'steps');
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) fail(node, 'starts, ends, axes and steps differ in length');
  const spec: SliceSpec = { starts: new Array<number>(r).fill(0), steps: new Array<number>(r).fill(1), out: [...x] };
  const seen = new Set<number>();
  axes.forEach((a0, i) => {
    const a = normAxis(node, a0, r);
    if (seen.has(a)) fail(node, `axis ${a} repeated`);
    seen.add(a);
    const n = x[a]!;
    const step = steps![i]!;
    if (step === 0) fail(node, 'step 0');
    let s = starts[i]!, e = ends[i]!;
    if (s < 0) s += n;
    if (e < 0) e += n;
    // Clamping also tames INT64_MAX / INT64_MIN sentinels, which arrive as huge doubles.
    if (step > 0) { s = Math.min(Math.max(s, 0), n); e = Math.min(Math.max(e, 0), n); } else { s = Math.min(Math.max(s, 0), n - 1); e = Math.min(Math.max(e, -1), n - 1); }
    spec.starts[a] = s;
    spec.steps[a] = step;
    spec.out[a] = Math.max(0, Math.ceil((e - s) / step));
  });
  return spec;
}

const slice = copyOp(['Slice'], (node, ins) => [sliceSpec(node, ins).out], (node, ins) => {
  const spec = sliceSpec(node, ins);
  const ist = stridesOf(ins[0]!.shape);
  const plan = identityPlan(spec.out);
  plan.srcStrides = ist.map((s, k) => s * spec.steps[k]!);
  plan.srcBase = spec.starts.reduce((acc, st, k) => acc + (spec.out[k]! > 0 ? st * ist[k]! : 0), 0);
  return [{ input: 0, output: 0, plan }];
}, [1, 2, 3, 4]);

// ---- Expand / Tile ---------------------------------------------------------------------------

/** Multidirectional (numpy) broadcast of two shapes. */
export function broadcastShapes(node: GraphNode, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(node, `shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const expand = copyOp(['Expand'], (node, ins) => [broadcastShapes(node, ins[0]!.shape, constInts(node, ins[1], 'the target shape'))], (_node, ins, outs) => {
  const out = outs[0]!;
  const x = [...new Array<number>(out.length - ins[0]!.shape.length).fill(1), ...ins[0]!.shape];
  const plan = identityPlan(out);
  plan.srcDims = x;
  plan.srcStrides = stridesOf(x);
  return [{ input: 0, output: 0, plan }];
}, [1]);

const tile = copyOp(['Tile'], (node, ins) => {
  const x = ins[0]!.shape;
  const reps = constInts(node, ins[1], 'repeats');
  if (reps.length !== x.length || reps.some((r) => r < 0)) fail(node, `repeats [${reps}] do not fit rank ${x.length}`);
  return [x.map((d, i) => d * reps[i]!)];
}, (_node, ins, outs) => {
  const x = ins[0]!.shape;
  const plan = identityPlan(outs[0]!);
  plan.srcDims = [...x];
  plan.srcStrides = stridesOf(x);
  return [{ input: 0, output: 0, plan }];
}, [1]);

// ---- Pad -------------------------------------------------------------------------------------

const PAD_MODES: Record<string, number> = { constant: 0, edge: 1, reflect: 2, wrap: 3 };

interface PadSpec { begin: number[]; out: number[]; mode: number; value: number }

function padSpec(node: GraphNode, ins: readonly (TensorArg | undefined)[]): PadSpec {
  const x = ins[0]!.shape;
  const r = x.length;
  const modeName = attrString(node, 'mode', 'constant');
  const mode = PAD_MODES[modeName] ?? fail(node, `unknown mode '${modeName}'`);
  let pads = attrInts(node, 'pads') ?? attrInts(node, 'paddings');
  let value = attrFloat(node, 'value', 0);
  if (!pads) {
    pads = constInts(node, ins[1], 'pads');
    if (has(node, ins, 2)) {
      const v = constInts(node, ins[2], 'constant_value');
      value = v[0] ?? 0;
    }
    if (has(node, ins, 3)) {
      const axes = constInts(node, ins[3], 'axes').map((a) => normAxis(node, a, r));
      if (pads.length !== 2 * axes.length) fail(node, `${pads.length} pads for ${axes.length} axes`);
      const full = new Array<number>(2 * r).fill(0);
      axes.forEach((a, i) => { full[a] = pads![i]!; full[a + r] = pads![i + axes.length]!; });
      pads = full;
    }
  }
  if (pads.length !== 2 * r) fail(node, `${pads.length} pads for rank ${r}`);
  const begin = pads.slice(0, r);
  const out = x.map((d, i) => d + pads![i]! + pads![i + r]!);
  if (out.some((d) => d < 0)) fail(node, `pads [${pads}] crop more than the input [${x}]`);
  if (mode !== 0 && x.some((d, i) => d === 0 && out[i]! > 0)) fail(node, `${modeName} padding of an empty axis`);
  return { begin, out, mode, value };
}

const pad: OpDef = {
  opTypes: ['Pad'],
  schema: LAYOUT_SCHEMA,
  hostInputs: () => [1, 2, 3],
  inferShapes: (node, ins) => [padSpec(node, ins).out],
  build(node, ins, outs, ctx) {
    const spec = padSpec(node, ins);
    const x = ins[0]!.shape;
    const total = sizeOf(outs[0]!);
    if (total === 0) return { dispatches: [] };
    if (x.length > LAYOUT_MAX_RANK) fail(node, `rank ${x.length} exceeds ${LAYOUT_MAX_RANK}`);
    const bits = new Int32Array(new Float32Array([spec.value]).buffer)[0]!;
    const uniform = packUniform([total, x.length, spec.mode, bits, ...slots6(spec.out), ...slots6(x), ...slots6(spec.begin), ...slots6(stridesOf(x))]);
    return {
      dispatches: [{
        label: `Pad:${node.name}`,
        pipeline: ctx.pipeline(PAD_WGSL),
        bindings: [{ input: 0 }, { output: 0 }, { uniform }],
        workgroups: grid1d(total, LAYOUT_WG, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  backward(node, ins, outs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const spec = padSpec(node, ins);
    const x = ins[0]!.shape;
    const ist = stridesOf(x), ost = stridesOf(outs[0]!);
    const axes = x.map((len, k) => pullAxis(len, ist[k]!, spec.out[k]!, ost[k]!, (o) => padSource(o - spec.begin[k]!, len, spec.mode)));
    const d = adjointDispatch(ctx, `PadGrad:${node.name}`, { axes }, { gradOutput: 0 }, { gradInput: 0 });
    return { dispatches: d ? [d] : [] };
  },
};

/** The input coordinate padded coordinate `ci` reads along an axis of length `len` (undefined: the constant). */
function padSource(ci: number, len: number, mode: number): number | undefined {
  if (ci >= 0 && ci < len) return ci;
  if (mode === 0) return undefined;
  if (mode === 1) return Math.min(Math.max(ci, 0), len - 1);
  if (mode === 2) {
    if (len === 1) return 0;
    const period = 2 * (len - 1);
    const m = ((ci % period) + period) % period;
    return m >= len ? period - m : m;
  }
  return ((ci % len) + len) % len;
}

// ---- Gather ----------------------------------------------------------------------------------

function gatherIndices(node: GraphNode, ins: readonly (TensorArg | undefined)[], axisLen: number): number[] {
  return constInts(node, ins[1], 'indices').map((v) => {
    const j = v < 0 ? v + axisLen : v;
    if (!(j >= 0 && j < axisLen)) fail(node, `index ${v} out of range for axis length ${axisLen}`);
    return j;
  });
}

function gatherShape(node: GraphNode, x: readonly number[], q: readonly number[]): number[] {
  const axis = normAxis(node, attrInt(node, 'axis', 0), x.length);
  return [...x.slice(0, axis), ...q, ...x.slice(axis + 1)];
}

const gather: OpDef = {
  opTypes: ['Gather'],
  schema: LAYOUT_SCHEMA,
  hostInputs: () => [1],
  inferShapes(node, ins) {
    const x = ins[0]!.shape;
    return [gatherShape(node, x, ins[1]?.shape ?? fail(node, 'indices are missing'))];
  },
  evalHost(node, ins) {
    const data = ins[0]?.constant;
    if (!data || !ins[1]?.constant) return undefined;
    const x = data.shape;
    const axis = normAxis(node, attrInt(node, 'axis', 0), x.length);
    const idx = gatherIndices(node, ins, x[axis]!);
    const inner = sizeOf(x.slice(axis + 1));
    const outer = sizeOf(x.slice(0, axis));
    const out: number[] = [];
    for (let o = 0; o < outer; o++) for (const j of idx) for (let k = 0; k < inner; k++) out.push(data.data[(o * x[axis]! + j) * inner + k]!);
    return [hostTensor(data.dtype, gatherShape(node, x, ins[1].shape), out)];
  },
  build(node, ins, outs, ctx) {
    const x = ins[0]!.shape;
    const axis = normAxis(node, attrInt(node, 'axis', 0), x.length);
    const idx = gatherIndices(node, ins, x[axis]!);
    const total = sizeOf(outs[0]!);
    if (total === 0) return { dispatches: [] };
    const buffer = ctx.constBuffer(Float32Array.from(idx), `Gather:${node.name}:indices`);
    const uniform = packUniform([total, sizeOf(x.slice(axis + 1)), x[axis]!, idx.length]);
    return {
      dispatches: [{
        label: `Gather:${node.name}`,
        pipeline: ctx.pipeline(GATHER_WGSL),
        bindings: [{ input: 0 }, { buffer }, { output: 0 }, { uniform }],
        workgroups: grid1d(total, LAYOUT_WG, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  backward(node, ins, _outs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const x = ins[0]!.shape;
    const axis = normAxis(node, attrInt(node, 'axis', 0), x.length);
    const idx = gatherIndices(node, ins, x[axis]!);
    const len = x[axis]!, inner = sizeOf(x.slice(axis + 1)), outer = sizeOf(x.slice(0, axis));
    // Data viewed as [outer, len, inner], the output as [outer, idx.length, inner]; repeated
    // indices gather several positions.
    const spec: AdjointSpec = {
      axes: [
        pullAxis(outer, len * inner, outer, idx.length * inner, (o) => o),
        pullAxis(len, inner, idx.length, inner, (p) => idx[p]),
        pullAxis(inner, 1, inner, 1, (o) => o),
      ],
    };
    const d = adjointDispatch(ctx, `GatherGrad:${node.name}`, spec, { gradOutput: 0 }, { gradInput: 0 });
    return { dispatches: d ? [d] : [] };
  },
};

/** Kernel definitions of the data-movement family. */
export const layoutOps: OpDef[] = [concat, split, transpose, slice, expand, tile, pad, gather];

/** Evaluates a copy op's plan on host tensors; exported for tests of the plan machinery. */
export function evalLayoutHost(op: OpDef, node: GraphNode, inputs: readonly (HostTensor | undefined)[]): HostTensor[] | undefined {
  return op.evalHost?.(node, inputs.map((t) => t && { shape: t.shape, constant: t }));
}
