/**
 * QuantizeLinear / DequantizeLinear as fake quantisation on float tensors: Q outputs the integer
 * level as a float, DQ maps it back, so Q→DQ pairs in QDQ models run on the float GPU path. Scale
 * and zero point are host constants (per tensor, or per axis with `axis`). DequantizeLinear of
 * constant weights folds on the host, so quantised weights reach Conv/Gemm as fp32.
 */
import type { OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrInt } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { packUniform } from '../runtime/bind.js';
import { hostTensor, sizeOf, type DType } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { normAxis, pointwiseWorkgroup } from './pointwise.js';
import { quantizeGradWgsl, quantizeWgsl } from '../wgsl/quantize.js';
import { BOOL_INT, sig } from './schema.js';

const BLOCK = { type: 'int', min: 0 } as const;
/** Signatures per opset (ONNX's Operators.md). */
const QUANT_SCHEMA: OpSchema = {
  QuantizeLinear: [sig(10, [2, 3]), sig(13, [2, 3], 1, { axis: 'int' }), sig(19, [2, 3], 1, { axis: 'int', saturate: BOOL_INT }),
    sig(21, [2, 3], 1, { axis: 'int', saturate: BOOL_INT, block_size: BLOCK, output_dtype: 'int' })],
  DequantizeLinear: [sig(10, [2, 3]), sig(13, [2, 3], 1, { axis: 'int' }), sig(21, [2, 3], 1, { axis: 'int', block_size: BLOCK }),
    sig(23, [2, 3], 1, { axis: 'int', block_size: BLOCK, output_dtype: 'int' })],
};
import type { OpSchema } from './types.js';

const RANGES: Partial<Record<DType, [number, number]>> = {
  uint8: [0, 255], int8: [-128, 127], uint16: [0, 65535], int16: [-32768, 32767], int32: [-2147483648, 2147483647],
};
/** TensorProto.DataType codes of the `output_dtype` attribute (opset 21). */
const PROTO_DTYPES: Record<number, DType> = { 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32' };

/** Resolved quantisation parameters of a node for an input of `shape`. */
export interface QuantParams {
  /** Interleaved [scale, zero point] per channel (one pair per tensor when C = 1). */
  sz: Float32Array;
  C: number;
  inner: number;
  /** Quantised type (Q: output type; DQ: input's zero-point type, informative). */
  qtype: DType;
}

/** Reads scale / zero point constants; throws GraphError for shapes the spec does not allow. */
export function quantParams(node: GraphNode, inputs: readonly (TensorArg | undefined)[], shape: readonly number[]): QuantParams {
  if (attrInt(node, 'block_size', 0) > 0) throw new GraphError(`${node.opType} '${node.name}': blocked quantisation is not supported`);
  const scale = inputs[1]?.constant;
  if (!scale) throw new GraphError(`${node.opType} '${node.name}': scale must be a constant`);
  const zp = node.inputs[2] ? inputs[2]?.constant : undefined;
  if (node.inputs[2] && !zp) throw new GraphError(`${node.opType} '${node.name}': zero point must be a constant`);
  const outDt = PROTO_DTYPES[attrInt(node, 'output_dtype', 0)];
  const qtype: DType = zp?.dtype ?? outDt ?? 'uint8';
  const k = scale.data.length;
  if (zp && zp.data.length !== k) throw new GraphError(`${node.opType} '${node.name}': scale and zero point sizes differ`);
  let C = 1;
  let inner = 1;
  // One scale is per-tensor whatever its rank ([] or [1]); more need a 1-D scale along `axis`.
  if (k !== 1) {
    if (scale.shape.length !== 1) throw new GraphError(`${node.opType} '${node.name}': scale must be a scalar or 1-D`);
    const axis = normAxis(attrInt(node, 'axis', 1), shape.length, node.opType);
    if (shape[axis] !== k) throw new GraphError(`${node.opType} '${node.name}': ${k} scales for axis ${axis} of size ${shape[axis]}`);
    C = k;
    inner = sizeOf(shape.slice(axis + 1));
  }
  const sz = new Float32Array(2 * C);
  for (let c = 0; c < C; c++) {
    sz[2 * c] = scale.data[c]!;
    sz[2 * c + 1] = zp ? zp.data[c]! : 0;
  }
  return { sz, C, inner, qtype };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function channelOf(i: number, p: QuantParams): number {
  return Math.floor(i / p.inner) % p.C;
}

function xShape(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): readonly number[] {
  const x = inputs[0];
  if (!x) throw new GraphError(`${node.opType} '${node.name}': missing input`);
  return x.shape;
}

function build(dequantize: boolean): NonNullable<OpDef['build']> {
  return (node, inputs, outputs, ctx) => {
    const shape = outputs[0]!;
    const p = quantParams(node, inputs, shape);
    const [lo, hi] = RANGES[p.qtype] ?? [0, 255];
    const n = sizeOf(shape);
    const vec4 = n % 4 === 0 && (p.C === 1 || p.inner % 4 === 0);
    const items = vec4 ? n / 4 : n;
    const wg = pointwiseWorkgroup(ctx.traits);
    return {
      dispatches: [{
        label: `${node.opType}:${node.name}`,
        pipeline: ctx.pipeline(quantizeWgsl(dequantize, vec4, wg)),
        bindings: [{ input: 0 }, { buffer: ctx.constBuffer(p.sz, `${node.name}.scale_zp`) }, { output: 0 },
          { uniform: packUniform([items, p.C, p.inner, 0, { f32: lo }, { f32: hi }, 0, 0]) }],
        workgroups: grid1d(items, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  };
}

function backward(dequantize: boolean): NonNullable<OpDef['backward']> {
  return (node, inputs, outputs, ctx, wants) => {
    if (!wants[0]) return { dispatches: [] };
    const shape = outputs[0]!;
    const p = quantParams(node, inputs, shape);
    const [lo, hi] = RANGES[p.qtype] ?? [0, 255];
    const n = sizeOf(shape);
    const wg = pointwiseWorkgroup(ctx.traits);
    return {
      dispatches: [{
        label: `${node.opType}Grad:${node.name}`,
        pipeline: ctx.pipeline(quantizeGradWgsl(wg)),
        bindings: [{ input: 0 }, { buffer: ctx.constBuffer(p.sz, `${node.name}.scale_zp`) }, { gradOutput: 0 }, { gradInput: 0 },
          { uniform: packUniform([n, p.C, p.inner, dequantize ? 1 : 0, { f32: lo }, { f32: hi }, 0, 0]) }],
        workgroups: grid1d(n, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  };
}

/** QuantizeLinear: float output holding the quantised level (fake quantisation). */
export const quantizeLinearOp: OpDef = {
  opTypes: ['QuantizeLinear'],
  schema: QUANT_SCHEMA,
  hostInputs: () => [1, 2],
  inferShapes(node, inputs) {
    const shape = xShape(node, inputs);
    quantParams(node, inputs, shape);
    return [[...shape]];
  },
  evalHost(node, inputs) {
    const x = inputs[0]?.constant;
    if (!x) return undefined;
    const p = quantParams(node, inputs, x.shape);
    const [lo, hi] = RANGES[p.qtype] ?? [0, 255];
    const out = Array.from(x.data, (v, i) => {
      const c = channelOf(i, p);
      // f32 division, as the reference computes it, before rounding.
      const q = roundHalfEven(Math.fround(v / p.sz[2 * c]!)) + p.sz[2 * c + 1]!;
      return Math.min(Math.max(q, lo), hi);
    });
    return [hostTensor(p.qtype, x.shape, out)];
  },
  build: build(false),
  /** Straight-through estimator: gy / scale inside the quantisation range, 0 where clamped. */
  backward: backward(false),
};

/** DequantizeLinear: (x - zero_point) * scale; folds on the host for constant x. */
export const dequantizeLinearOp: OpDef = {
  opTypes: ['DequantizeLinear'],
  schema: QUANT_SCHEMA,
  hostInputs: () => [1, 2],
  inferShapes(node, inputs) {
    const shape = xShape(node, inputs);
    quantParams(node, inputs, shape);
    return [[...shape]];
  },
  evalHost(node, inputs) {
    const x = inputs[0]?.constant;
    if (!x) return undefined;
    const p = quantParams(node, inputs, x.shape);
    const out = Array.from(x.data, (v, i) => {
      const c = channelOf(i, p);
      return (v - p.sz[2 * c + 1]!) * p.sz[2 * c]!;
    });
    return [hostTensor('float32', x.shape, out)];
  },
  build: build(true),
  /** gy · scale (per tensor or per axis). */
  backward: backward(true),
};

/** The quantize family. */
export const quantizeOps: OpDef[] = [quantizeLinearOp, dequantizeLinearOp];
