/**
 * Ops that only rearrange metadata or compute on host integers: Reshape and friends alias their
 * input's GPU buffer; Shape, Constant, ConstantOfShape, Range, Cast-to-int are evaluated on the host
 * during constant folding (exporters leave Shape/Gather/Unsqueeze/Concat/Reshape chains around).
 */
import type { OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt, attrInts } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { dtypeOf } from '../runtime/onnx.js';
import { sizeOf, type HostTensor, type DType } from '../runtime/tensor.js';
import { BOOL_INT, sig } from './schema.js';

/** Signatures of the shape family per opset (ONNX's Operators.md). */
const SHAPE_SCHEMA: OpSchema = {
  Reshape: [sig(1, 1, 1, { shape: 'ints', consumed_inputs: 'ints' }), sig(5, 2), sig(14, 2, 1, { allowzero: BOOL_INT })],
  Flatten: [sig(1, 1, 1, { axis: 'int' })],
  Squeeze: [sig(1, 1, 1, { axes: 'ints' }), sig(13, [1, 2])],
  Unsqueeze: [sig(1, 1, 1, { axes: 'ints' }, ['axes']), sig(13, 2)],
  Shape: [sig(1, 1), sig(15, 1, 1, { start: { type: 'int', int64: true }, end: { type: 'int', int64: true } })],
  Size: [sig(1, 1)],
  Constant: [sig(1, 0, 1, { value: 'tensor' }, ['value']), sig(12, 0, 1, {
    value: 'tensor', sparse_value: 'other', value_float: 'float', value_floats: 'floats', value_int: { type: 'int', int64: true },
    value_ints: { type: 'ints', int64: true }, value_string: 'string', value_strings: 'strings' })],
  ConstantOfShape: [sig(9, 1, 1, { value: 'tensor' })],
  Range: [sig(11, 3)],
  Cast: [sig(1, 1, 1, { to: 'string' }, ['to']), sig(6, 1, 1, { to: 'int' }, ['to']), sig(19, 1, 1, { to: 'int', saturate: BOOL_INT }, ['to'])],
  CastLike: [sig(15, 2), sig(19, 2, 1, { saturate: BOOL_INT })],
};
import type { OpSchema } from './types.js';

function normAxis(axis: number, rank: number, node: GraphNode): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${node.opType} '${node.name}': axis ${axis} out of range for rank ${rank}`);
  return a;
}

function constInts(node: GraphNode, arg: TensorArg | undefined, what: string): number[] {
  if (!arg?.constant) throw new GraphError(`${node.opType} '${node.name}': ${what} must be known when the model is loaded (it is computed at run time)`);
  return Array.from(arg.constant.data);
}

/** Reshape target with ONNX's 0 (copy) and -1 (infer) rules. */
export function reshapeTarget(node: GraphNode, inShape: readonly number[], target: readonly number[]): number[] {
  const allowzero = attrInt(node, 'allowzero', 0) === 1;
  const out = target.map((d, i) => (d === 0 && !allowzero ? (inShape[i] ?? 0) : d));
  const total = sizeOf(inShape);
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = out.reduce((p, d, i) => (i === neg ? p : p * d), 1);
    if (rest === 0 || total % rest !== 0) throw new GraphError(`Reshape '${node.name}': cannot reshape [${inShape}] to [${target}]`);
    out[neg] = total / rest;
  }
  if (sizeOf(out) !== total || out.some((d) => d < 0)) throw new GraphError(`Reshape '${node.name}': cannot reshape [${inShape}] to [${target}]`);
  return out;
}

function aliasOf(t: TensorArg, shape: number[]): HostTensor[] | undefined {
  return t.constant ? [{ dtype: t.constant.dtype, shape, data: t.constant.data }] : undefined;
}

const reshape: OpDef = {
  opTypes: ['Reshape'],
  schema: SHAPE_SCHEMA,
  alias: true,
  hostInputs: () => [1],
  inferShapes(node, ins) {
    const target = node.attrs['shape'] !== undefined && !ins[1] ? attrInts(node, 'shape')! : constInts(node, ins[1], 'the target shape');
    return [reshapeTarget(node, ins[0]!.shape, target)];
  },
  evalHost(node, ins) { return aliasOf(ins[0]!, this.inferShapes(node, ins)[0]!); },
};

const flatten: OpDef = {
  opTypes: ['Flatten'],
  schema: SHAPE_SCHEMA,
  alias: true,
  inferShapes(node, ins) {
    const s = ins[0]!.shape;
    const axis = attrInt(node, 'axis', 1);
    const a = axis < 0 ? axis + s.length : axis;
    if (a < 0 || a > s.length) throw new GraphError(`Flatten '${node.name}': axis ${axis} out of range`);
    return [[sizeOf(s.slice(0, a)), sizeOf(s.slice(a))]];
  },
  evalHost(node, ins) { return aliasOf(ins[0]!, this.inferShapes(node, ins)[0]!); },
};

function axesOf(node: GraphNode, ins: readonly (TensorArg | undefined)[]): number[] | undefined {
  if (ins[1]) return constInts(node, ins[1], 'axes');
  return attrInts(node, 'axes');
}

const squeeze: OpDef = {
  opTypes: ['Squeeze'],
  schema: SHAPE_SCHEMA,
  alias: true,
  hostInputs: () => [1],
  inferShapes(node, ins) {
    const s = ins[0]!.shape;
    const axes = axesOf(node, ins);
    if (!axes) return [s.filter((d) => d !== 1)];
    const drop = new Set(axes.map((a) => normAxis(a, s.length, node)));
    for (const a of drop) if (s[a] !== 1) throw new GraphError(`Squeeze '${node.name}': dimension ${a} is ${s[a]}, not 1`);
    return [s.filter((_, i) => !drop.has(i))];
  },
  evalHost(node, ins) { return aliasOf(ins[0]!, this.inferShapes(node, ins)[0]!); },
};

const unsqueeze: OpDef = {
  opTypes: ['Unsqueeze'],
  schema: SHAPE_SCHEMA,
  alias: true,
  hostInputs: () => [1],
  inferShapes(node, ins) {
    const s = ins[0]!.shape;
    const axes = axesOf(node, ins);
    if (!axes) throw new GraphError(`Unsqueeze '${node.name}': no axes`);
    const rank = s.length + axes.length;
    const set = new Set(axes.map((a) => normAxis(a, rank, node)));
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(set.has(i) ? 1 : s[j++]!);
    return [out];
  },
  evalHost(node, ins) { return aliasOf(ins[0]!, this.inferShapes(node, ins)[0]!); },
};

const shape: OpDef = {
  opTypes: ['Shape'],
  schema: SHAPE_SCHEMA,
  inferShapes(node, ins) { return [[this.evalHost!(node, ins)![0]!.data.length]]; },
  evalHost(node, ins) {
    const s = ins[0]!.shape;
    let start = attrInt(node, 'start', 0);
    let end = attrInt(node, 'end', s.length);
    if (start < 0) start += s.length;
    if (end < 0) end += s.length;
    const dims = s.slice(Math.max(0, start), Math.min(s.length, end));
    return [{ dtype: 'int64', shape: [dims.length], data: Float64Array.from(dims) }];
  },
};

const size: OpDef = {
  opTypes: ['Size'],
  schema: SHAPE_SCHEMA,
  inferShapes: () => [[]],
  evalHost: (_n, ins) => [{ dtype: 'int64', shape: [], data: Float64Array.of(sizeOf(ins[0]!.shape)) }],
};

function constantValue(node: GraphNode): HostTensor {
  const a = node.attrs;
  const v = a['value'];
  if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  if (typeof a['value_float'] === 'number') return { dtype: 'float32', shape: [], data: Float32Array.of(a['value_float']) };
  if (typeof a['value_int'] === 'number') return { dtype: 'int64', shape: [], data: Float64Array.of(a['value_int']) };
  if (Array.isArray(a['value_floats'])) return { dtype: 'float32', shape: [a['value_floats'].length], data: Float32Array.from(a['value_floats'] as number[]) };
  if (Array.isArray(a['value_ints'])) return { dtype: 'int64', shape: [a['value_ints'].length], data: Float64Array.from(a['value_ints'] as number[]) };
  throw new GraphError(`Constant '${node.name}': unsupported value attribute`);
}

const constant: OpDef = {
  opTypes: ['Constant'],
  schema: SHAPE_SCHEMA,
  inferShapes: (node) => [[...constantValue(node).shape]],
  evalHost: (node) => [constantValue(node)],
};

const constantOfShape: OpDef = {
  opTypes: ['ConstantOfShape'],
  schema: SHAPE_SCHEMA,
  hostInputs: () => [0],
  inferShapes: (node, ins) => [constInts(node, ins[0], 'the shape')],
  evalHost(node, ins) {
    const s = constInts(node, ins[0], 'the shape');
    const v = node.attrs['value'];
    const t = v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
    const fill = t ? t.data[0] ?? 0 : 0;
    const dtype: DType = t?.dtype ?? 'float32';
    const n = sizeOf(s);
    const data = dtype === 'float32' ? new Float32Array(n).fill(fill) : new Float64Array(n).fill(fill);
    return [{ dtype, shape: s, data }];
  },
};

const range: OpDef = {
  opTypes: ['Range'],
  schema: SHAPE_SCHEMA,
  hostInputs: () => [0, 1, 2],
  inferShapes(node, ins) { return [[...this.evalHost!(node, ins)![0]!.shape]]; },
  evalHost(node, ins) {
    const [start, limit, delta] = [0, 1, 2].map((i) => constInts(node, ins[i], 'Range bounds')[0]!);
    const n = Math.max(0, Math.ceil((limit! - start!) / delta!));
    const vals = Array.from({ length: n }, (_, i) => start! + i * delta!);
    const dtype = ins[0]!.constant!.dtype;
    return [{ dtype, shape: [n], data: dtype === 'float32' ? Float32Array.from(vals) : Float64Array.from(vals) }];
  },
};

const INT_TYPES = new Set<DType>(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64', 'bool']);

const cast: OpDef = {
  opTypes: ['Cast', 'CastLike'],
  schema: SHAPE_SCHEMA,
  alias: true,
  inferShapes(node, ins) {
    const to = targetType(node, ins);
    if (INT_TYPES.has(to) && !ins[0]!.constant) {
      throw new GraphError(`Cast '${node.name}': casting a run-time tensor to ${to} is not supported (the GPU computes in float32)`);
    }
    return [[...ins[0]!.shape]];
  },
  evalHost(node, ins) {
    const c = ins[0]!.constant;
    if (!c) return undefined;
    const to = targetType(node, ins);
    if (!INT_TYPES.has(to)) return [{ dtype: 'float32', shape: c.shape, data: Float32Array.from(c.data) }];
    const data = Float64Array.from(c.data, (v) => (to === 'bool' ? (v !== 0 ? 1 : 0) : Math.trunc(v)));
    return [{ dtype: to, shape: c.shape, data }];
  },
};

function targetType(node: GraphNode, ins: readonly (TensorArg | undefined)[]): DType {
  if (node.opType === 'CastLike') return ins[1]?.constant?.dtype ?? 'float32';
  return dtypeOf(attrInt(node, 'to', 1));
}

/** Ops that never dispatch: aliases and host-only shape arithmetic. */
export const shapeOps: OpDef[] = [reshape, flatten, squeeze, unsqueeze, shape, size, constant, constantOfShape, range, cast];
