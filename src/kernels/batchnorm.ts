/**
 * Inference BatchNormalization: scale, B, mean and var are host constants, folded at build time into
 * one per-channel (a, b) pair so the kernel is a single multiply-add per element.
 */
import type { OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrFloat, attrInt } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { sizeOf } from '../runtime/tensor.js';
import { grid1d } from './dispatch-size.js';
import { pointwiseWorkgroup } from './pointwise.js';
import { channelAffineWgsl } from '../wgsl/batchnorm.js';
import { binaryGradDispatch } from './binary.js';
import { BOOL_INT, sig } from './schema.js';

const BN_COMMON = { epsilon: 'float', momentum: 'float' } as const;
/** Signatures of BatchNormalization per opset (ONNX's Operators.md). */
const BN_SCHEMA: OpSchema = {
  BatchNormalization: [
    sig(1, 5, [1, 5], { ...BN_COMMON, consumed_inputs: 'ints', is_test: 'int', spatial: 'int' }),
    sig(6, 5, [1, 5], { ...BN_COMMON, is_test: 'int', spatial: 'int' }),
    sig(7, 5, [1, 5], { ...BN_COMMON, spatial: 'int' }),
    sig(9, 5, [1, 5], BN_COMMON),
    sig(14, 5, [1, 3], { ...BN_COMMON, training_mode: BOOL_INT }),
  ],
};
import type { OpSchema } from './types.js';

/**
 * Per-channel a = scale / sqrt(var + eps), b = B - mean * a, interleaved [a0, b0, a1, b1, ...], in
 * float64 before the single rounding to f32. Exported for the Conv folding pass and tests.
 */
export function batchNormCoefficients(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): Float32Array {
  const x = inputs[0];
  if (!x || x.shape.length < 2) throw new GraphError(`BatchNormalization '${node.name}': X must have rank >= 2`);
  const C = x.shape[1]!;
  const names = ['scale', 'B', 'mean', 'var'];
  const vals = [1, 2, 3, 4].map((i) => {
    const c = inputs[i]?.constant;
    if (!c) throw new GraphError(`BatchNormalization '${node.name}': ${names[i - 1]} must be a constant`);
    if (c.data.length !== C) throw new GraphError(`BatchNormalization '${node.name}': ${names[i - 1]} has ${c.data.length} elements, X has ${C} channels`);
    return c.data;
  });
  const eps = attrFloat(node, 'epsilon', 1e-5);
  const [scale, bias, mean, variance] = vals as [Float32Array, Float32Array, Float32Array, Float32Array];
  const ab = new Float32Array(2 * C);
  for (let c = 0; c < C; c++) {
    // A negative variance makes the channel NaN (as onnxruntime computes it), which a following
    // Relu on the GPU would turn into a plausible 0: refuse the model instead.
    if (!(variance[c]! + Math.fround(eps) >= 0)) {
      throw new GraphError(`BatchNormalization '${node.name}': var + epsilon is ${variance[c]! + Math.fround(eps)} at channel ${c}; a variance must not be negative`);
    }
    const a = scale[c]! / Math.sqrt(variance[c]! + Math.fround(eps));
    ab[2 * c] = a;
    ab[2 * c + 1] = bias[c]! - mean[c]! * a;
  }
  return ab;
}

/** BatchNormalization (inference only; training_mode = 1 and spatial = 0 are rejected). */
export const batchNormOp: OpDef = {
  opTypes: ['BatchNormalization'],
  schema: BN_SCHEMA,
  hostInputs: () => [1, 2, 3, 4],
  inferShapes(node, inputs) {
    const x = inputs[0];
    if (!x || x.shape.length < 2) throw new GraphError(`BatchNormalization '${node.name}': X must have rank >= 2`);
    if (attrInt(node, 'training_mode', 0) !== 0) throw new GraphError(`BatchNormalization '${node.name}': training mode is not supported`);
    if (attrInt(node, 'spatial', 1) !== 1) throw new GraphError(`BatchNormalization '${node.name}': spatial = 0 is not supported`);
    if ([1, 2, 3, 4].every((i) => inputs[i]?.constant)) batchNormCoefficients(node, inputs); // checked at load, not first at build
    return [[...x.shape]];
  },
  build(node, inputs, outputs, ctx) {
    const ab = batchNormCoefficients(node, inputs);
    const shape = outputs[0]!;
    const n = sizeOf(shape);
    const C = shape[1]!;
    const inner = sizeOf(shape.slice(2));
    const vec4 = inner % 4 === 0 && n % 4 === 0;
    const items = vec4 ? n / 4 : n;
    const wg = pointwiseWorkgroup(ctx.traits);
    return {
      dispatches: [{
        label: `BatchNormalization:${node.name}`,
        pipeline: ctx.pipeline(channelAffineWgsl(vec4, wg)),
        bindings: [{ input: 0 }, { buffer: ctx.constBuffer(ab, `${node.name}.ab`) }, { output: 0 }, { uniform: new Uint32Array([items, C, inner, 0]).buffer }],
        workgroups: grid1d(items, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  /**
   * Inference BN is x·a[c] + b[c], so dX = gY·a[c]: the Mul operand gradient against a per-channel
   * [C,1,...] tensor (shares that pipeline). The statistics are constants: X is the only gradient.
   */
  backward(node, inputs, outputs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const ab = batchNormCoefficients(node, inputs);
    const shape = outputs[0]!;
    const C = shape[1]!;
    const a = new Float32Array(C);
    for (let c = 0; c < C; c++) a[c] = ab[2 * c]!;
    const chan = [C, ...new Array<number>(shape.length - 2).fill(1)];
    return {
      dispatches: [binaryGradDispatch('Mul', 0, { target: { input: 0 }, other: { buffer: ctx.constBuffer(a, `${node.name}.a`) }, y: { output: 0 }, gy: { gradOutput: 0 }, gx: { gradInput: 0 } },
        shape, chan, shape, ctx, `BatchNormalizationGrad:${node.name}`)],
    };
  },
};
