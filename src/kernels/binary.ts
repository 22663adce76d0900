/**
 * Pointwise binary ops with numpy broadcasting: Add, Sub, Mul, Div, Pow, Max, Min, Sum (Max, Min
 * and Sum variadic) and PRelu (slope broadcast to X). Host evaluation covers integer shape
 * arithmetic for constant folding (integer Div truncates toward zero).
 */
import type { BindingRef, BuildContext, Dispatch, OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { hostTensor, isFloatDType, sizeOf, stridesOf, type HostTensor } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { broadcastShapes, broadcastStrides, channelView, collapseBroadcast, pointwiseWorkgroup } from './pointwise.js';
import { BINARY_FN, BINARY_GRAD_CODE, binaryGradWgsl, binaryWgsl, type BinaryLayout } from '../wgsl/binary.js';
import { unaryWgsl } from '../wgsl/unary.js';
import { BOOL_INT, VARIADIC as ANY, sig } from './schema.js';

/** Opset 1-6 broadcasting: `axis` aligns B at a dimension, which these kernels do not implement. */
const LEGACY_BROADCAST = { broadcast: BOOL_INT, axis: { type: 'int', unsupported: 'legacy axis-aligned broadcasting' } } as const;
const arith = [sig(1, 2, 1, { ...LEGACY_BROADCAST, consumed_inputs: 'ints' }), sig(6, 2, 1, LEGACY_BROADCAST), sig(7, 2)];
const variadic = [sig(1, [1, ANY], 1, { consumed_inputs: 'ints' }), sig(6, [1, ANY])];
/** Signatures of the binary family per opset (ONNX's Operators.md). */
const BINARY_SCHEMA: OpSchema = {
  Add: arith, Sub: arith, Mul: arith, Div: arith,
  Pow: [sig(1, 2, 1, LEGACY_BROADCAST), sig(7, 2)],
  Max: variadic, Min: variadic, Sum: variadic,
  PRelu: [sig(1, 2, 1, { consumed_inputs: 'ints' }), sig(6, 2)],
};
import type { OpSchema } from './types.js';

const VARIADIC = new Set(['Max', 'Min', 'Sum']);
const MAX_RANK = 8;

/** Float64 host semantics of each op, used for constant folding. */
const HOST_FN: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
  Max: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  Min: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  Sum: (a, b) => a + b,
  PRelu: (a, b) => (a >= 0 ? a : a * b),
};

/** How one pair of operands is laid out on the GPU, decided from shapes alone (pure, tested). */
export interface BinaryPlan {
  layout: BinaryLayout;
  vec4: boolean;
  smallFirst: boolean;
  /** Uniform fields for packUniform. */
  uniform: number[];
  /** Invocations (vec4 count in vec4 form). */
  items: number;
}

/** Chooses the layout for `a op b -> out` (out = broadcast of a and b). */
export function planBinary(a: readonly number[], b: readonly number[], out: readonly number[]): BinaryPlan {
  const n = sizeOf(out);
  const na = sizeOf(a);
  const nb = sizeOf(b);
  if (na === n && nb === n) {
    const vec4 = n % 4 === 0;
    const items = vec4 ? n / 4 : n;
    return { layout: 'same', vec4, smallFirst: false, uniform: [items, 0, 0, 0], items };
  }
  const chanA = nb === n ? channelView(a, out) : undefined;
  const chanB = na === n ? channelView(b, out) : undefined;
  const chan = chanB ?? chanA;
  if (chan) {
    const vec4 = n % 4 === 0 && (chan.C === 1 || chan.inner % 4 === 0);
    const items = vec4 ? n / 4 : n;
    return { layout: 'chan', vec4, smallFirst: !chanB, uniform: [items, chan.C, chan.inner, 0], items };
  }
  const { shape, strides } = collapseBroadcast(out, [broadcastStrides(a, out), broadcastStrides(b, out)]);
  if (shape.length > MAX_RANK) throw new GraphError(`broadcast of rank ${shape.length} exceeds ${MAX_RANK}`);
  const pad = (v: number[], fill: number): number[] => [...v, ...new Array<number>(MAX_RANK - v.length).fill(fill)];
  return {
    layout: 'general', vec4: false, smallFirst: false, items: n,
    uniform: [n, shape.length, 0, 0, ...pad(shape, 1), ...pad(strides[0]!, 0), ...pad(strides[1]!, 0)],
  };
}

function shapesOf(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): (readonly number[])[] {
  const present = inputs.filter((t): t is TensorArg => t !== undefined);
  if (present.length !== inputs.length || present.length === 0) throw new GraphError(`${node.opType} '${node.name}': missing input`);
  if (!VARIADIC.has(node.opType) && present.length !== 2) throw new GraphError(`${node.opType} '${node.name}': expects 2 inputs, got ${present.length}`);
  return present.map((t) => t.shape);
}

function inferBinary(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): number[][] {
  const shapes = shapesOf(node, inputs);
  const out = broadcastShapes(shapes, `${node.opType} '${node.name}' inputs`);
  if (node.opType === 'PRelu' && (out.length !== shapes[0]!.length || out.some((d, i) => d !== shapes[0]![i]))) {
    throw new GraphError(`PRelu '${node.name}': slope [${shapes[1]!.join(',')}] does not broadcast to X [${shapes[0]!.join(',')}]`);
  }
  return [out];
}

/** Elementwise host evaluation with broadcasting; exported for tests and other folding code. */
export function evalBinaryHost(opType: string, x: HostTensor, y: HostTensor): HostTensor {
  const fn = HOST_FN[opType];
  if (!fn) throw new GraphError(`no host evaluation for ${opType}`);
  const out = broadcastShapes([x.shape, y.shape]);
  const sx = broadcastStrides(x.shape, out);
  const sy = broadcastStrides(y.shape, out);
  const os = stridesOf(out);
  const n = sizeOf(out);
  const integer = !isFloatDType(x.dtype);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ix = 0;
    let iy = 0;
    for (let d = 0; d < out.length; d++) {
      const c = Math.floor(i / os[d]!) % out[d]!;
      ix += c * sx[d]!;
      iy += c * sy[d]!;
    }
    const v = fn(x.data[ix]!, y.data[iy]!);
    data[i] = integer ? Math.trunc(v) : v;
  }
  return hostTensor(integer ? x.dtype : 'float32', out, data);
}

function dispatchFor(opType: string, a: BindingRef, b: BindingRef, dst: BindingRef, sa: readonly number[], sb: readonly number[], out: readonly number[], ctx: BuildContext, label: string): Dispatch {
  const plan = planBinary(sa, sb, out);
  const wg = pointwiseWorkgroup(ctx.traits);
  return {
    label,
    pipeline: ctx.pipeline(binaryWgsl(BINARY_FN[opType]!, plan.layout, plan.vec4, wg, plan.smallFirst)),
    bindings: [a, b, dst, { uniform: packUniform(plan.uniform) }],
    workgroups: grid1d(plan.items, wg, ctx.traits.maxWorkgroupsPerDimension),
  };
}

/**
 * Uniform of `binaryGradWgsl` for the operand of shape `target` of `op(a, b) -> out` (`other` is
 * the remaining operand's shape; `first`: the target is `a`). Pure, exported for tests.
 */
export function planBinaryGrad(code: number, first: boolean, target: readonly number[], other: readonly number[], out: readonly number[]): { uniform: number[]; items: number } {
  const { shape, strides } = collapseBroadcast(out, [stridesOf(out), broadcastStrides(target, out), broadcastStrides(other, out)]);
  if (shape.length > MAX_RANK) throw new GraphError(`broadcast of rank ${shape.length} exceeds ${MAX_RANK}`);
  const kept: number[][] = [[], [], []];
  const red: number[][] = [[], [], []];
  shape.forEach((n, d) => {
    const list = strides[1]![d] !== 0 ? kept : red;
    list[0]!.push(n);
    list[1]!.push(strides[0]![d]!);
    list[2]!.push(strides[2]![d]!);
  });
  const pad = (v: number[]): number[] => [...v, ...new Array<number>(MAX_RANK - v.length).fill(0)];
  const items = sizeOf(target);
  return {
    items,
    uniform: [items, kept[0]!.length, red[0]!.length, sizeOf(red[0]!), code, first ? 1 : 0, 0, 0, ...kept.flatMap(pad), ...red.flatMap(pad)],
  };
}

/** Bindings of one operand-gradient dispatch. */
export interface BinaryGradRefs { target: BindingRef; other: BindingRef; y: BindingRef; gy: BindingRef; gx: BindingRef }

/**
 * One dispatch adding gy·∂op/∂operand into the operand's gradient (summed over the dims it was
 * broadcast along). Shared with BatchNormalization's backward (a per-channel Mul).
 */
export function binaryGradDispatch(opType: string, operand: 0 | 1, refs: BinaryGradRefs, target: readonly number[], other: readonly number[], out: readonly number[], ctx: BuildContext, label: string): Dispatch {
  const code = BINARY_GRAD_CODE[opType];
  if (!code) throw new GraphError(`reverse mode: no gradient for ${opType}`);
  const plan = planBinaryGrad(code[operand], operand === 0, target, other, out);
  const wg = pointwiseWorkgroup(ctx.traits);
  return {
    label,
    pipeline: ctx.pipeline(binaryGradWgsl(wg)),
    bindings: [refs.target, refs.other, refs.y, refs.gy, refs.gx, { uniform: packUniform(plan.uniform) }],
    workgroups: grid1d(plan.items, wg, ctx.traits.maxWorkgroupsPerDimension),
  };
}

/** Add, Sub, Mul, Div, Pow, Max, Min, Sum, PRelu. */
export const binaryOp: OpDef = {
  opTypes: ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'PRelu'],
  schema: BINARY_SCHEMA,
  inferShapes: inferBinary,
  evalHost(node, inputs) {
    const consts = inputs.map((t) => t?.constant);
    if (consts.length === 0 || consts.some((c) => !c)) return undefined;
    shapesOf(node, inputs);
    let acc = consts[0]!;
    for (let k = 1; k < consts.length; k++) acc = evalBinaryHost(node.opType, acc, consts[k]!);
    return [acc];
  },
  build(node, inputs, outputs, ctx) {
    const shapes = shapesOf(node, inputs);
    const out = outputs[0]!;
    const label = `${node.opType}:${node.name}`;
    if (shapes.length === 1) {
      const n = sizeOf(out);
      const vec4 = n % 4 === 0;
      const items = vec4 ? n / 4 : n;
      const wg = pointwiseWorkgroup(ctx.traits);
      return {
        dispatches: [{
          label, pipeline: ctx.pipeline(unaryWgsl('v', vec4, wg)),
          bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([items, 0, 0, 0]).buffer }],
          workgroups: grid1d(items, wg, ctx.traits.maxWorkgroupsPerDimension),
        }],
      };
    }
    // Variadic: fold left, ping-ponging partial results through two scratch regions.
    const dispatches: Dispatch[] = [];
    const scratchBytes: number[] = [];
    let accRef: BindingRef = { input: 0 };
    let accShape: readonly number[] = shapes[0]!;
    for (let k = 1; k < shapes.length; k++) {
      const shape = broadcastShapes([accShape, shapes[k]!]);
      const last = k === shapes.length - 1;
      const slot = (k - 1) % 2;
      if (!last) scratchBytes[slot] = Math.max(scratchBytes[slot] ?? 0, sizeOf(shape) * 4);
      const dst: BindingRef = last ? { output: 0 } : { scratch: slot };
      dispatches.push(dispatchFor(node.opType, accRef, { input: k }, dst, accShape, shapes[k]!, shape, ctx, shapes.length > 2 ? `${label}#${k}` : label));
      accRef = dst;
      accShape = shape;
    }
    return scratchBytes.length ? { dispatches, scratchBytes } : { dispatches };
  },
  /**
   * One dispatch per wanted operand (so when both operands are one tensor, x*x, each dispatch
   * still writes each gradient element once). Variadic Sum: every operand gets the reduced output
   * gradient; a one-input Max/Min/Sum passes it through. Variadic Max/Min with more than two
   * inputs is not differentiated (the selected operand depends on all of them).
   */
  backward(node, inputs, outputs, ctx, wants) {
    const shapes = shapesOf(node, inputs);
    const out = outputs[0]!;
    const label = `${node.opType}Grad:${node.name}`;
    const dispatches: Dispatch[] = [];
    const n = shapes.length;
    if (n > 2 && node.opType !== 'Sum') throw new GraphError(`reverse mode: ${node.opType} '${node.name}' with ${n} inputs is not supported`);
    for (let k = 0; k < n; k++) {
      if (!wants[k]) continue;
      const refs = (other: number): BinaryGradRefs => ({ target: { input: k }, other: { input: other }, y: { output: 0 }, gy: { gradOutput: 0 }, gx: { gradInput: k } });
      if (n === 2 && node.opType !== 'Sum') {
        dispatches.push(binaryGradDispatch(node.opType, k as 0 | 1, refs(1 - k), shapes[k]!, shapes[1 - k]!, out, ctx, `${label}#${k}`));
      } else {
        // Derivative 1: the other operand is never read at a meaningful offset, the target stands in.
        dispatches.push(binaryGradDispatch('Add', 0, refs(k), shapes[k]!, shapes[k]!, out, ctx, `${label}#${k}`));
      }
    }
    return { dispatches };
  },
};

/** The binary family. */
export const binaryOps: OpDef[] = [binaryOp];
