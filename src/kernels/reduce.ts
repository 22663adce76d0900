/**
 * ReduceSum/Mean/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp. Axes come from the `axes`
 * attribute (opset < 18; ReduceSum < 13) or from host-constant input 1 (later opsets); empty axes
 * mean all axes unless noop_with_empty_axes = 1 (then no axis is reduced).
 */
import type { OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt, attrInts } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { hostTensor, isFloatDType, sizeOf, stridesOf } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { normAxis, pointwiseWorkgroup } from './pointwise.js';
import { REDUCE_GRAD_CODE, REDUCE_KINDS, reduceGradWgsl, reduceWgsl, type ReduceKind } from '../wgsl/reduce.js';
import { BOOL_INT, sig } from './schema.js';

/** Signatures per opset: axes moved from an attribute to input 1 at opset 18 (ReduceSum: 13). */
const REDUCE_SCHEMA: OpSchema = Object.fromEntries(REDUCE_KINDS.map((k) => [k, [
  sig(1, 1, 1, { axes: 'ints', keepdims: BOOL_INT }),
  sig(k === 'ReduceSum' ? 13 : 18, [1, 2], 1, { keepdims: BOOL_INT, noop_with_empty_axes: BOOL_INT }),
]]));
import type { OpSchema } from './types.js';

const GROUPS = 4;

/** The sorted, normalised axes this node reduces over `rank` dims. */
export function reduceAxes(node: GraphNode, inputs: readonly (TensorArg | undefined)[], rank: number): number[] {
  let axes: number[] | undefined;
  if (node.inputs.length > 1 && node.inputs[1]) {
    const c = inputs[1]?.constant;
    if (!c) throw new GraphError(`${node.opType} '${node.name}': axes must be a constant`);
    axes = Array.from(c.data);
  } else {
    axes = attrInts(node, 'axes');
  }
  if (!axes || axes.length === 0) {
    if (attrInt(node, 'noop_with_empty_axes', 0) !== 0) return [];
    return Array.from({ length: rank }, (_, i) => i);
  }
  const norm = [...new Set(axes.map((a) => normAxis(a, rank, node.opType)))];
  return norm.sort((a, b) => a - b);
}

function outShape(shape: readonly number[], axes: readonly number[], keep: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!axes.includes(i)) out.push(d);
    else if (keep) out.push(1);
  });
  return out;
}

/**
 * Collapses `shape` into alternating kept / reduced groups (size-1 dims dropped, neighbours of one
 * kind merged), each as [size, element stride].
 */
export function reduceGroups(shape: readonly number[], axes: readonly number[]): { kept: [number, number][]; reduced: [number, number][] } {
  const st = stridesOf(shape);
  const kept: [number, number][] = [];
  const reduced: [number, number][] = [];
  let lastKind: 'k' | 'r' | undefined;
  shape.forEach((n, d) => {
    if (n === 1) return;
    const kind = axes.includes(d) ? 'r' : 'k';
    const list = kind === 'r' ? reduced : kept;
    if (kind === lastKind) {
      const g = list[list.length - 1]!;
      g[0] *= n;
      g[1] = st[d]!;
    } else list.push([n, st[d]!]);
    lastKind = kind;
  });
  return { kept, reduced };
}

const HOST: Record<ReduceKind, { init: number; acc: (a: number, x: number) => number; fin: (a: number, n: number) => number }> = {
  ReduceSum: { init: 0, acc: (a, x) => a + x, fin: (a) => a },
  ReduceMean: { init: 0, acc: (a, x) => a + x, fin: (a, n) => a / n },
  ReduceMax: { init: -Infinity, acc: Math.max, fin: (a) => a },
  ReduceMin: { init: Infinity, acc: Math.min, fin: (a) => a },
  ReduceProd: { init: 1, acc: (a, x) => a * x, fin: (a) => a },
  ReduceSumSquare: { init: 0, acc: (a, x) => a + x * x, fin: (a) => a },
  ReduceL1: { init: 0, acc: (a, x) => a + Math.abs(x), fin: (a) => a },
  ReduceL2: { init: 0, acc: (a, x) => a + x * x, fin: (a) => Math.sqrt(a) },
  ReduceLogSum: { init: 0, acc: (a, x) => a + x, fin: (a) => Math.log(a) },
  ReduceLogSumExp: { init: 0, acc: (a, x) => a + Math.exp(x), fin: (a) => Math.log(a) },
};

function inputShape(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): readonly number[] {
  const x = inputs[0];
  if (!x) throw new GraphError(`${node.opType} '${node.name}': missing input`);
  return x.shape;
}

/** The reduce family as one OpDef. */
export const reduceOp: OpDef = {
  opTypes: REDUCE_KINDS,
  schema: REDUCE_SCHEMA,
  hostInputs: () => [1],
  inferShapes(node, inputs) {
    const shape = inputShape(node, inputs);
    const axes = reduceAxes(node, inputs, shape.length);
    return [outShape(shape, axes, attrInt(node, 'keepdims', 1) !== 0)];
  },
  evalHost(node, inputs) {
    const x = inputs[0]?.constant;
    if (!x) return undefined;
    const axes = reduceAxes(node, inputs, x.shape.length);
    const out = outShape(x.shape, axes, attrInt(node, 'keepdims', 1) !== 0);
    const { kept, reduced } = reduceGroups(x.shape, axes);
    const h = HOST[node.opType as ReduceKind];
    const nOut = sizeOf(out);
    const count = sizeOf(reduced.map((g) => g[0]));
    const data = new Float64Array(nOut);
    for (let o = 0; o < nOut; o++) {
      let rem = o;
      let base = 0;
      for (let d = kept.length - 1; d >= 0; d--) {
        base += (rem % kept[d]![0]) * kept[d]![1];
        rem = Math.floor(rem / kept[d]![0]);
      }
      let a = h.init;
      for (let r = 0; r < count; r++) {
        let rr = r;
        let off = base;
        for (let d = reduced.length - 1; d >= 0; d--) {
          off += (rr % reduced[d]![0]) * reduced[d]![1];
          rr = Math.floor(rr / reduced[d]![0]);
        }
        a = h.acc(a, x.data[off]!);
      }
      data[o] = h.fin(a, count);
    }
    const integer = !isFloatDType(x.dtype);
    return [hostTensor(integer ? x.dtype : 'float32', out, integer ? data.map(Math.trunc) : data)];
  },
  build(node, inputs, outputs, ctx) {
    const shape = inputShape(node, inputs);
    const axes = reduceAxes(node, inputs, shape.length);
    const { kept, reduced } = reduceGroups(shape, axes);
    if (kept.length > GROUPS || reduced.length > GROUPS) throw new GraphError(`${node.opType} '${node.name}': too many alternating axis groups`);
    // Leading padding: size 1, stride 0, so the nested loops and index split need no rank.
    const pad = (g: [number, number][]): [number, number][] => [...new Array<[number, number]>(GROUPS - g.length).fill([1, 0]), ...g];
    const k = pad(kept);
    const r = pad(reduced);
    const nOut = sizeOf(outputs[0]!);
    const count = sizeOf(reduced.map((g) => g[0]));
    const wg = Math.min(64, pointwiseWorkgroup(ctx.traits));
    const uniform = packUniform([nOut, count, 0, 0, ...k.map((g) => g[0]), ...k.map((g) => g[1]), ...r.map((g) => g[0]), ...r.map((g) => g[1])]);
    return {
      dispatches: [{
        label: `${node.opType}:${node.name}`,
        pipeline: ctx.pipeline(reduceWgsl(node.opType as ReduceKind, wg)),
        bindings: [{ input: 0 }, { output: 0 }, { uniform }],
        workgroups: grid1d(nOut, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  /** One invocation per input element gathers its single output's gradient (no atomics). */
  backward(node, inputs, _outputs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const shape = inputShape(node, inputs);
    const axes = reduceAxes(node, inputs, shape.length);
    const { kept, reduced } = reduceGroups(shape, axes);
    if (kept.length > GROUPS || reduced.length > GROUPS) throw new GraphError(`${node.opType} '${node.name}': too many alternating axis groups`);
    const pad = (g: [number, number][]): [number, number][] => [...new Array<[number, number]>(GROUPS - g.length).fill([1, 1]), ...g];
    const k = pad(kept);
    const r = pad(reduced);
    const n = sizeOf(shape);
    const count = sizeOf(reduced.map((g) => g[0]));
    const wg = Math.min(64, pointwiseWorkgroup(ctx.traits));
    const uniform = packUniform([n, count, REDUCE_GRAD_CODE[node.opType as ReduceKind], 0, ...k.map((g) => g[0]), ...k.map((g) => g[1]), ...r.map((g) => g[0]), ...r.map((g) => g[1])]);
    return {
      dispatches: [{
        label: `${node.opType}Grad:${node.name}`,
        pipeline: ctx.pipeline(reduceGradWgsl(wg)),
        bindings: [{ input: 0 }, { output: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform }],
        workgroups: grid1d(n, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
};

/** The reduce family. */
export const reduceOps: OpDef[] = [reduceOp];
