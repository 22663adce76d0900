/**
 * Pointwise unary ops: the activations shared with fused epilogues (Relu, LeakyRelu, Clip, Sigmoid,
 * HardSigmoid, HardSwish, Tanh, Elu), plain math (Neg, Exp, Log, Sqrt, Abs, Reciprocal, Floor,
 * Ceil, Round, Sign, Erf, Softplus, Softsign, Gelu) and the inference aliases Identity / Dropout.
 */
import type { OpDef, TensorArg } from './types.js';
import type { GraphNode } from '../runtime/graph.js';
import { attrString } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import { hostTensor, isFloatDType, sizeOf, type HostTensor } from '../runtime/tensor.js';
import { ACTIVATION_KINDS, activationHost, activationOf, activationWgsl, type Activation, type ActivationKind } from './activation.js';
import { grid1d } from './dispatch-size.js';
import { pointwiseWorkgroup } from './pointwise.js';
import { ERF_WGSL, UNARY_GRAD_CODE, unaryGradWgsl, unaryWgsl } from '../wgsl/unary.js';
import { packUniform } from '../runtime/bind.js';
import { sig } from './schema.js';

const LEGACY = { consumed_inputs: 'ints' } as const;
/** A pointwise op without attributes, with opset 1's `consumed_inputs` (no meaning today). */
const plain = (since = 1) => (since === 1 ? [sig(1, 1, 1, LEGACY), sig(6, 1)] : [sig(since, 1)]);
/** Signatures of the unary family per opset (ONNX's Operators.md). */
const UNARY_SCHEMA: OpSchema = {
  Relu: plain(), Sigmoid: plain(), Tanh: plain(), Neg: plain(), Exp: plain(), Log: plain(), Sqrt: plain(), Abs: plain(),
  Reciprocal: plain(), Floor: plain(), Ceil: plain(), Softplus: [sig(1, 1)], Softsign: [sig(1, 1)],
  Round: plain(11), Sign: plain(9), Erf: plain(9), HardSwish: plain(14),
  LeakyRelu: [sig(1, 1, 1, { alpha: 'float', ...LEGACY }), sig(6, 1, 1, { alpha: 'float' })],
  Elu: [sig(1, 1, 1, { alpha: 'float', ...LEGACY }), sig(6, 1, 1, { alpha: 'float' })],
  HardSigmoid: [sig(1, 1, 1, { alpha: 'float', beta: 'float', ...LEGACY }), sig(6, 1, 1, { alpha: 'float', beta: 'float' })],
  Clip: [sig(1, 1, 1, { min: 'float', max: 'float', ...LEGACY }), sig(6, 1, 1, { min: 'float', max: 'float' }), sig(11, [1, 3])],
  Gelu: [sig(20, 1, 1, { approximate: { type: 'string', oneOf: ['none', 'tanh'] } })],
  Identity: [sig(1, 1)],
  Dropout: [sig(1, 1, [1, 2], { is_test: 'int', ratio: 'float', ...LEGACY }), sig(6, 1, [1, 2], { is_test: 'int', ratio: 'float' }),
    sig(7, 1, [1, 2], { ratio: 'float' }), sig(12, [1, 3], [1, 2], { seed: { type: 'int', int64: true } })],
};
import type { OpSchema } from './types.js';

const MATH_OPS = ['Neg', 'Exp', 'Log', 'Sqrt', 'Abs', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Erf', 'Softplus', 'Softsign', 'Gelu'] as const;
type MathOp = typeof MATH_OPS[number];

const F32_MAX = 3.4028234663852886e38;

/** Clip's bounds: attributes before opset 11, optional host-constant inputs 1 and 2 after. */
function clipBounds(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): [number, number] | undefined {
  if (node.inputs.length <= 1) return undefined;
  const bound = (i: number, dflt: number): number => {
    if (!node.inputs[i]) return dflt;
    const c = inputs[i]?.constant;
    if (!c) throw new GraphError(`Clip '${node.name}': min/max must be constants`);
    if (c.data.length !== 1) throw new GraphError(`Clip '${node.name}': min/max must be scalars`);
    return c.data[0]!;
  };
  return [bound(1, -F32_MAX), bound(2, F32_MAX)];
}

function isActivation(op: string): op is ActivationKind {
  return (ACTIVATION_KINDS as readonly string[]).includes(op);
}

function geluApprox(node: GraphNode): boolean {
  const a = attrString(node, 'approximate', 'none');
  if (a !== 'none' && a !== 'tanh') throw new GraphError(`Gelu '${node.name}': unknown approximate '${a}'`);
  return a === 'tanh';
}

/** The WGSL expression (in `v`) and helper functions for a math op. */
function mathWgsl(node: GraphNode): { expr: string; prelude: string } {
  const op = node.opType as MathOp;
  switch (op) {
    case 'Neg': return { expr: '-v', prelude: '' };
    case 'Exp': return { expr: 'exp(v)', prelude: '' };
    case 'Log': return { expr: 'log(v)', prelude: '' };
    case 'Sqrt': return { expr: 'sqrt(v)', prelude: '' };
    case 'Abs': return { expr: 'abs(v)', prelude: '' };
    case 'Reciprocal': return { expr: '1.0 / v', prelude: '' };
    case 'Floor': return { expr: 'floor(v)', prelude: '' };
    case 'Ceil': return { expr: 'ceil(v)', prelude: '' };
    // WGSL round() is round-half-to-even, as ONNX requires.
    case 'Round': return { expr: 'round(v)', prelude: '' };
    case 'Sign': return { expr: 'sign(v)', prelude: '' };
    case 'Erf': return { expr: 'erf_(v)', prelude: ERF_WGSL };
    // Written so exp() never overflows for large |v|.
    case 'Softplus': return { expr: 'max(v, 0.0) + log(1.0 + exp(-abs(v)))', prelude: '' };
    case 'Softsign': return { expr: 'v / (1.0 + abs(v))', prelude: '' };
    case 'Gelu':
      return geluApprox(node)
        ? { expr: '0.5 * v * (1.0 + tanh(clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0)))', prelude: '' }
        : { expr: '0.5 * v * (1.0 + erf_(v * 0.7071067811865476))', prelude: ERF_WGSL };
  }
}

/** erf on the host for constant folding (same approximation quality is not needed: use series). */
function erfHost(x: number): number {
  // Abramowitz & Stegun 7.1.26 is enough for folding f32 constants.
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

function mathHost(node: GraphNode): (v: number) => number {
  const op = node.opType as MathOp;
  switch (op) {
    case 'Neg': return (v) => -v;
    case 'Exp': return Math.exp;
    case 'Log': return Math.log;
    case 'Sqrt': return Math.sqrt;
    case 'Abs': return Math.abs;
    case 'Reciprocal': return (v) => 1 / v;
    case 'Floor': return Math.floor;
    case 'Ceil': return Math.ceil;
    case 'Round': return (v) => { const r = Math.round(v); return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r; };
    case 'Sign': return Math.sign;
    case 'Erf': return erfHost;
    case 'Softplus': return (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
    case 'Softsign': return (v) => v / (1 + Math.abs(v));
    case 'Gelu': return geluApprox(node)
      ? (v) => 0.5 * v * (1 + Math.tanh(0.7978845608028654 * (v + 0.044715 * v ** 3)))
      : (v) => 0.5 * v * (1 + erfHost(v / Math.SQRT2));
  }
}

function activationFor(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): Activation {
  return activationOf(node, node.opType === 'Clip' ? clipBounds(node, inputs) : undefined);
}

/** Every unary op except the aliases: one pipeline per op type (and per activation parameter set). */
export const unaryOp: OpDef = {
  opTypes: [...ACTIVATION_KINDS, ...MATH_OPS],
  schema: UNARY_SCHEMA,
  hostInputs: (node) => (node.opType === 'Clip' ? [1, 2] : []),
  inferShapes(node, inputs) {
    const x = inputs[0];
    if (!x) throw new GraphError(`${node.opType} '${node.name}': missing input`);
    return [[...x.shape]];
  },
  evalHost(node, inputs) {
    const x = inputs[0]?.constant;
    if (!x) return undefined;
    const f = isActivation(node.opType) ? ((a: Activation) => (v: number) => activationHost(a, v))(activationFor(node, inputs)) : mathHost(node);
    const out = Array.from(x.data, f);
    return [hostTensor(isFloatDType(x.dtype) ? 'float32' : x.dtype, x.shape, out)];
  },
  build(node, inputs, outputs, ctx) {
    const n = sizeOf(outputs[0]!);
    const { expr, prelude } = isActivation(node.opType)
      ? { expr: activationWgsl(activationFor(node, inputs), 'v'), prelude: '' }
      : mathWgsl(node);
    const vec4 = n % 4 === 0;
    const items = vec4 ? n / 4 : n;
    const wg = pointwiseWorkgroup(ctx.traits);
    return {
      dispatches: [{
        label: `${node.opType}:${node.name}`,
        pipeline: ctx.pipeline(unaryWgsl(expr, vec4, wg, prelude)),
        bindings: [{ input: 0 }, { output: 0 }, { uniform: new Uint32Array([items, 0, 0, 0]).buffer }],
        workgroups: grid1d(items, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
  /** gx += gy · f'(x); Clip's bounds are host constants, so only X ever wants a gradient. */
  backward(node, inputs, outputs, ctx, wants) {
    if (!wants[0]) return { dispatches: [] };
    const n = sizeOf(outputs[0]!);
    const key = node.opType === 'Gelu' && geluApprox(node) ? 'GeluTanh' : node.opType;
    const code = UNARY_GRAD_CODE[key];
    if (code === undefined) throw new GraphError(`reverse mode: no gradient for ${node.opType}`);
    const [p0 = 0, p1 = 0] = isActivation(node.opType) ? activationFor(node, inputs).params : [];
    const wg = pointwiseWorkgroup(ctx.traits);
    return {
      dispatches: [{
        label: `${node.opType}Grad:${node.name}`,
        pipeline: ctx.pipeline(unaryGradWgsl(wg)),
        bindings: [{ input: 0 }, { output: 0 }, { gradOutput: 0 }, { gradInput: 0 }, { uniform: packUniform([n, code, { f32: p0 }, { f32: p1 }]) }],
        workgroups: grid1d(n, wg, ctx.traits.maxWorkgroupsPerDimension),
      }],
    };
  },
};

function passThrough(node: GraphNode, inputs: readonly (TensorArg | undefined)[]): HostTensor[] | undefined {
  const c = inputs[0]?.constant;
  return c ? [c] : undefined;
}

/** Identity: output 0 is input 0's buffer. */
export const identityOp: OpDef = {
  opTypes: ['Identity'],
  schema: UNARY_SCHEMA,
  alias: true,
  inferShapes(node, inputs) {
    const x = inputs[0];
    if (!x) throw new GraphError(`Identity '${node.name}': missing input`);
    return [[...x.shape]];
  },
  evalHost: passThrough,
};

/**
 * Dropout at inference: output 0 is input 0. Only that output is produced, so a graph that consumes
 * the mask fails at planning (the executor reports the missing value); training mode is rejected.
 */
export const dropoutOp: OpDef = {
  opTypes: ['Dropout'],
  schema: UNARY_SCHEMA,
  alias: true,
  hostInputs: () => [1, 2],
  inferShapes(node, inputs) {
    const x = inputs[0];
    if (!x) throw new GraphError(`Dropout '${node.name}': missing input`);
    if (node.inputs[2]) {
      const t = inputs[2]?.constant;
      if (!t) throw new GraphError(`Dropout '${node.name}': training_mode must be a constant`);
      if (t.data[0]) throw new GraphError(`Dropout '${node.name}': training mode is not supported (inference only)`);
    }
    return [[...x.shape]];
  },
  evalHost: passThrough,
};

/** The unary family: the GPU unary kernel plus the Identity / Dropout aliases. */
export const unaryOps: OpDef[] = [unaryOp, identityOp, dropoutOp];
