/**
 * QLinearConv and ConvInteger (ai.onnx, opset 10 on; unchanged through the newest opset
 * onnxruntime reads) as their float decomposition. QLinearConv: dequantise x (per tensor) and w
 * (per tensor or per output channel, axis 0), the int32 bias times x_scale · w_scale, a float Conv,
 * quantise to y's scale and zero point. The integer product onnxruntime accumulates is exact; here it
 * is a float32 sum of the same terms, so a level may differ where the exact value sits within
 * float rounding of a half-level boundary. ConvInteger: (x - x_zero_point) ⊛ (w - w_zero_point),
 * exact in float32 while the sums stay below 2^24.
 */
import { expandingOp, type Expansion } from './expansion.js';
import { attrInts } from '../runtime/graph.js';
import { CONV_ATTRS, sig } from './schema.js';

// Zero points are required inputs of QLinearConv (onnxruntime refuses an empty one); the bias is optional.
const QLINEAR_CONV = { QLinearConv: [sig(10, [8, 9], 1, CONV_ATTRS)] };
const CONV_INTEGER = { ConvInteger: [sig(10, [2, 4], 1, CONV_ATTRS)] };

/** [-1, 1, ...] so a per-output-channel zero point broadcasts over w's channel and kernel axes. */
function channelShape(e: Expansion): number[] {
  const spatial = attrInts(e.src, 'kernel_shape')?.length ?? 2;
  return [-1, ...new Array<number>(spatial + 1).fill(1)];
}

export const qlinearConvOp = expandingOp(['QLinearConv'], undefined, (e) => {
  const n = e.src.inputs;
  const x = e.dq(e.need(0, 'x'), e.need(1, 'x_scale'), n[2]);
  const w = e.dq(e.need(3, 'w'), e.need(4, 'w_scale'), n[5], 0);
  const ins = [x, w];
  if (n[8]) ins.push(e.op('Mul', [e.op('Cast', [n[8]], { to: 1 }), e.op('Mul', [n[1]!, n[4]!])]));
  const y = e.op('Conv', ins, e.attrsExcept());
  e.q(y, e.need(6, 'y_scale'), n[7], e.src.outputs[0]);
}, [1, 2, 4, 5, 6, 7], QLINEAR_CONV);

export const convIntegerOp = expandingOp(['ConvInteger'], undefined, (e) => {
  const n = e.src.inputs;
  const x = n[2] ? e.op('Sub', [e.need(0, 'x'), n[2]]) : e.need(0, 'x');
  const w = n[3] ? e.op('Sub', [e.need(1, 'w'), e.op('Reshape', [n[3], e.constant(channelShape(e), undefined, 'int64')])]) : e.need(1, 'w');
  e.op('Conv', [x, w], e.attrsExcept(), e.src.outputs[0]);
}, undefined, CONV_INTEGER);
