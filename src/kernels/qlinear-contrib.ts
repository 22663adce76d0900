/**
 * The com.microsoft quantised ops onnxruntime's quantiser writes for CNNs in the QOperator format,
 * each as dequantise → float op → quantise (onnxruntime computes these through float or lookup
 * tables of the same function, so they agree to a level). Inputs follow onnxruntime's contrib
 * schema (version 1): X, X_scale, X_zero_point, then Y_scale, Y_zero_point; zero points optional.
 * Also com.microsoft's QuantizeLinear / DequantizeLinear, which are the ai.onnx ops.
 */
import { expandingOp, type Expansion } from './expansion.js';
import type { OpDef, OpVersionSchema } from './types.js';
import type { AttrValue } from '../runtime/graph.js';
import { attrInt } from '../runtime/graph.js';
import { AUTO_PAD, BOOL_INT, NONNEG_INTS, POSITIVE_INTS, VARIADIC, sig, withOptional } from './schema.js';
import { GraphError } from '../runtime/errors.js';

const MS = 'com.microsoft';

/**
 * Signatures (com.microsoft version 1, onnxruntime's ContribOperators.md). X's zero point is optional
 * though Y_scale follows it, and Y's may be left off the end; QLinearGlobalAveragePool and
 * QLinearSoftmax take all five inputs (Softmax's x_zero_point may be ''). Optional means zero
 * point 0, as the contrib docs define it; onnxruntime 1.30 itself differs in two places: its type
 * inference refuses an empty x_zero_point of QLinearAveragePool (and A/B_zero_point of
 * QLinearAdd/Mul), and its QLinearSigmoid/LeakyRelu kernels abort the process on 4 inputs.
 */
const UNARY_SCHEMA: Record<string, OpVersionSchema> = {
  Sigmoid: withOptional(sig(1, [4, 5]), 2),
  LeakyRelu: withOptional(sig(1, [4, 5], 1, { alpha: 'float' }), 2),
  Softmax: withOptional(sig(1, 5, 1, { axis: 'int', opset: { type: 'int', min: 1 } }, ['opset']), 2),
  GlobalAveragePool: sig(1, 5, 1, { channels_last: BOOL_INT }),
  AveragePool: withOptional(sig(1, [4, 5], 1, {
    auto_pad: AUTO_PAD, kernel_shape: POSITIVE_INTS, pads: NONNEG_INTS, strides: POSITIVE_INTS,
    ceil_mode: BOOL_INT, count_include_pad: BOOL_INT, channels_last: BOOL_INT,
  }, ['kernel_shape']), 2),
};

/** X, X_scale, X_zp, Y_scale, Y_zp around one float op (`wrap` may put layout ops around it). */
function unary(opType: string, attrs: (e: Expansion) => Record<string, AttrValue>, wrap?: (e: Expansion, x: string, run: (x: string) => string) => string): OpDef {
  return expandingOp([`QLinear${opType}`], MS, (e) => {
    const n = e.src.inputs;
    const x = e.dq(e.need(0, 'X'), e.need(1, 'X_scale'), n[2]);
    const run = (v: string): string => e.op(opType, [v], attrs(e));
    const y = wrap ? wrap(e, x, run) : run(x);
    e.q(y, e.need(3, 'Y_scale'), n[4], e.src.outputs[0]);
  }, undefined, { [`QLinear${opType}`]: [UNARY_SCHEMA[opType]!] });
}

/** NHWC (`channels_last` = 1) pools run between two transposes (2-D images). */
function channelsLast(e: Expansion, x: string, run: (x: string) => string): string {
  if (attrInt(e.src, 'channels_last', 0) === 0) return run(x);
  return e.op('Transpose', [run(e.op('Transpose', [x], { perm: [0, 3, 1, 2] }))], { perm: [0, 2, 3, 1] });
}

function binary(opType: 'Add' | 'Mul'): OpDef {
  return expandingOp([`QLinear${opType}`], MS, (e) => {
    const n = e.src.inputs;
    const a = e.dq(e.need(0, 'A'), e.need(1, 'A_scale'), n[2]);
    const b = e.dq(e.need(3, 'B'), e.need(4, 'B_scale'), n[5]);
    e.q(e.op(opType, [a, b]), e.need(6, 'C_scale'), n[7], e.src.outputs[0]);
  }, undefined, { [`QLinear${opType}`]: [withOptional(sig(1, [7, 8]), 2, 5)] });
}

/**
 * Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input. The contrib schema says 3 or
 * more inputs, but onnxruntime's kernel refuses fewer than 5 or an incomplete triple, and so does
 * the expansion (a missing scale would otherwise drop the last tensor). Each X_zero_point may be ''.
 */
const concat = expandingOp(['QLinearConcat'], MS, (e) => {
  const n = e.src.inputs;
  if ((n.length - 2) % 3 !== 0) {
    throw new GraphError(`QLinearConcat '${e.src.name}' has ${n.length} inputs: after Y_scale and Y_zero_point they must come as (X, X_scale, X_zero_point) triples`);
  }
  const parts: string[] = [];
  for (let i = 2; i + 1 < n.length; i += 3) parts.push(e.dq(e.need(i, 'X'), e.need(i + 1, 'X_scale'), n[i + 2]));
  e.q(e.op('Concat', parts, { axis: attrInt(e.src, 'axis', 1) }), e.need(0, 'Y_scale'), n[1], e.src.outputs[0]);
}, undefined, { QLinearConcat: [withOptional(sig(1, [5, VARIADIC], 1, { axis: 'int' }, ['axis']), 4)] });

const quantizeAlias = expandingOp(['QuantizeLinear'], MS, (e) => {
  e.q(e.need(0, 'x'), e.need(1, 'y_scale'), e.src.inputs[2], e.src.outputs[0], attrInt(e.src, 'axis', 1));
}, undefined, { QuantizeLinear: [sig(1, [2, 3], 1, { axis: 'int' })] });
const dequantizeAlias = expandingOp(['DequantizeLinear'], MS, (e) => {
  e.op('DequantizeLinear', [e.need(0, 'x'), e.need(1, 'x_scale'), e.src.inputs[2] ?? ''], { axis: attrInt(e.src, 'axis', 1) }, e.src.outputs[0]);
}, undefined, { DequantizeLinear: [sig(1, [2, 3], 1, { axis: 'int' })] });

/** The contrib quantised ops. */
export const qlinearContribOps: OpDef[] = [
  binary('Add'), binary('Mul'), concat,
  unary('Sigmoid', () => ({})),
  unary('LeakyRelu', (e) => e.attrsExcept()),
  // The `opset` attribute says which Softmax semantics (axis coercion before 13) the op follows.
  unary('Softmax', (e) => ({ ...e.attrsExcept('opset'), _opset: attrInt(e.src, 'opset', 13) })),
  unary('GlobalAveragePool', () => ({}), channelsLast),
  unary('AveragePool', (e) => e.attrsExcept('channels_last'), channelsLast),
  quantizeAlias, dequantizeAlias,
];
