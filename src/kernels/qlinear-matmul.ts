/**
 * QLinearMatMul, MatMulInteger (ai.onnx) and com.microsoft QGemm as their float decomposition:
 * dequantise, float MatMul/Gemm, quantise (see qlinear-conv.ts for how close that is to the
 * integer kernels). Scales and zero points: a per tensor, or per row (axis -2); b per tensor or per
 * column (axis -1, or 0 for a transposed QGemm B); y like a.
 */
import { expandingOp } from './expansion.js';
import { attrFloat, attrInt } from '../runtime/graph.js';
import { BOOL_INT, sig } from './schema.js';

/** Every zero point of QLinearMatMul and QGemm's a and b ones are required; QGemm's C, y_scale and y_zero_point are optional. */
const QLINEAR_MATMUL = { QLinearMatMul: [sig(10, 8)] };
const MATMUL_INTEGER = { MatMulInteger: [sig(10, [2, 4])] };
const QGEMM = { QGemm: [sig(1, [6, 9], 1, { alpha: 'float', transA: BOOL_INT, transB: BOOL_INT })] };

export const qlinearMatMulOp = expandingOp(['QLinearMatMul'], undefined, (e) => {
  const n = e.src.inputs;
  const a = e.dq(e.need(0, 'a'), e.need(1, 'a_scale'), n[2], -2);
  const b = e.dq(e.need(3, 'b'), e.need(4, 'b_scale'), n[5], -1);
  e.q(e.op('MatMul', [a, b]), e.need(6, 'y_scale'), n[7], e.src.outputs[0], -2);
}, [1, 2, 4, 5, 6, 7], QLINEAR_MATMUL);

/**
 * A's zero point is a scalar or one per row: reshaped to [rows, 1] it broadcasts along the rows.
 * Run-time zero points (DynamicQuantizeLinear's) are subtracted on the GPU like constant ones.
 */
export const matMulIntegerOp = expandingOp(['MatMulInteger'], undefined, (e) => {
  const n = e.src.inputs;
  const a = n[2] ? e.op('Sub', [e.need(0, 'A'), e.op('Reshape', [n[2], e.constant([-1, 1], [2], 'int64')])]) : e.need(0, 'A');
  const b = n[3] ? e.op('Sub', [e.need(1, 'B'), n[3]]) : e.need(1, 'B');
  e.op('MatMul', [a, b], {}, e.src.outputs[0]);
}, undefined, MATMUL_INTEGER);

/** com.microsoft QGemm: C is int32 at scale alpha · a_scale · b_scale; no y_scale means a float output. */
export const qgemmOp = expandingOp(['QGemm'], 'com.microsoft', (e) => {
  const n = e.src.inputs;
  const transB = attrInt(e.src, 'transB', 0);
  const alpha = attrFloat(e.src, 'alpha', 1);
  const a = e.dq(e.need(0, 'A'), e.need(1, 'a_scale'), n[2]);
  const b = e.dq(e.need(3, 'B'), e.need(4, 'b_scale'), n[5], transB ? 0 : 1);
  const ins = [a, b];
  if (n[6]) ins.push(e.op('Mul', [e.op('Cast', [n[6]], { to: 1 }), e.op('Mul', [e.op('Mul', [n[1]!, n[4]!]), e.constant([alpha], [])])]));
  const attrs = { alpha, beta: 1, transA: attrInt(e.src, 'transA', 0), transB };
  if (n[7]) e.q(e.op('Gemm', ins, attrs), n[7], n[8], e.src.outputs[0]);
  else e.op('Gemm', ins, attrs, e.src.outputs[0]);
}, undefined, QGEMM);
