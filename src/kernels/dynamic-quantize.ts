/**
 * DynamicQuantizeLinear (ai.onnx, opset 11 on) as the formula of its specification: uint8 levels
 * with y_scale = (max(x, 0) - min(x, 0)) / 255 and y_zero_point = round(clip(-min(x, 0) / y_scale,
 * 0, 255)), both computed on the GPU from the tensor (they are outputs, not constants), then
 * y = clip(round(x / y_scale) + y_zero_point, 0, 255), rounding half to even as the spec does.
 */
import { expandingOp } from './expansion.js';
import { sig } from './schema.js';

export const dynamicQuantizeLinearOp = expandingOp(['DynamicQuantizeLinear'], undefined, (e) => {
  const [x] = [e.need(0, 'x')];
  const [yOut, sOut, zOut] = e.src.outputs;
  const zero = e.constant([0], []);
  const top = e.constant([255], []);
  const lo = e.op('Min', [e.op('ReduceMin', [x], { keepdims: 0 }), zero]);
  const hi = e.op('Max', [e.op('ReduceMax', [x], { keepdims: 0 }), zero]);
  const scale = e.op('Div', [e.op('Sub', [hi, lo]), top], {}, sOut || undefined);
  const zp = e.op('Round', [e.op('Clip', [e.op('Div', [e.op('Neg', [lo]), scale]), zero, top])], {}, zOut || undefined);
  e.op('Clip', [e.op('Add', [e.op('Round', [e.op('Div', [x, scale])]), zp]), zero, top], {}, yOut);
}, undefined, { DynamicQuantizeLinear: [sig(11, 1, 3)] });
