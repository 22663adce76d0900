/**
 * Pointwise activations as WGSL expressions, shared by the standalone unary kernels and the fused
 * epilogues of Conv/Gemm/MatMul (the fusion pass moves a following activation into those nodes as
 * the attributes `_activation` and `_activation_params`).
 */
import type { GraphNode } from '../runtime/graph.js';
import { attrFloat } from '../runtime/graph.js';

export type ActivationKind = 'Relu' | 'LeakyRelu' | 'Clip' | 'Sigmoid' | 'HardSigmoid' | 'HardSwish' | 'Tanh' | 'Elu';
export const ACTIVATION_KINDS: readonly ActivationKind[] = ['Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu'];

export interface Activation { kind: ActivationKind; params: number[] }

/**
 * Parameters of an activation node in a fixed order. Clip's min/max come from attributes (opset < 11)
 * or constant inputs (opset >= 11), which the caller passes as `clipBounds`.
 */
export function activationOf(node: GraphNode, clipBounds?: [number, number]): Activation {
  const kind = node.opType as ActivationKind;
  switch (kind) {
    case 'LeakyRelu': return { kind, params: [attrFloat(node, 'alpha', 0.01)] };
    case 'Elu': return { kind, params: [attrFloat(node, 'alpha', 1)] };
    case 'HardSigmoid': return { kind, params: [attrFloat(node, 'alpha', 0.2), attrFloat(node, 'beta', 0.5)] };
    case 'Clip': return { kind, params: clipBounds ?? [attrFloat(node, 'min', -3.4028234663852886e38), attrFloat(node, 'max', 3.4028234663852886e38)] };
    default: return { kind, params: [] };
  }
}

/** Reads the fused activation a pass attached to a Conv/Gemm/MatMul node, if any. */
export function fusedActivation(node: GraphNode): Activation | undefined {
  const kind = node.attrs['_activation'];
  if (typeof kind !== 'string') return undefined;
  const p = node.attrs['_activation_params'];
  return { kind: kind as ActivationKind, params: Array.isArray(p) ? (p as number[]).map(Number) : [] };
}

function lit(v: number): string {
  if (!Number.isFinite(v)) return v > 0 ? '3.4028234e38' : '-3.4028234e38';
  const s = Math.fround(v).toString();
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/**
 * A WGSL expression applying `act` to the f32 expression `x` (which must be a plain identifier:
 * it may be referenced more than once). Parameters are baked in as literals, so each distinct
 * parameter set is its own pipeline; models use few distinct values.
 */
export function activationWgsl(act: Activation | undefined, x: string): string {
  if (!act) return x;
  const [a = 0, b = 0] = act.params;
  switch (act.kind) {
    case 'Relu': return `max(${x}, 0.0)`;
    case 'LeakyRelu': return `select(${x} * ${lit(a)}, ${x}, ${x} >= 0.0)`;
    case 'Clip': return `clamp(${x}, ${lit(a)}, ${lit(b)})`;
    case 'Sigmoid': return `(1.0 / (1.0 + exp(-${x})))`;
    case 'HardSigmoid': return `clamp(${lit(a)} * ${x} + ${lit(b)}, 0.0, 1.0)`;
    case 'HardSwish': return `(${x} * clamp(${x} / 6.0 + 0.5, 0.0, 1.0))`;
    // tanh in some WGSL backends overflows to NaN for |x| > ~44; clamp first.
    case 'Tanh': return `tanh(clamp(${x}, -15.0, 15.0))`;
    case 'Elu': return `select(${lit(a)} * (exp(${x}) - 1.0), ${x}, ${x} >= 0.0)`;
  }
}

/** The same activation on the host, in float64 (references and constant folding). */
export function activationHost(act: Activation | undefined, x: number): number {
  if (!act) return x;
  const [a = 0, b = 0] = act.params;
  switch (act.kind) {
    case 'Relu': return Math.max(x, 0);
    case 'LeakyRelu': return x >= 0 ? x : x * a;
    case 'Clip': return Math.min(Math.max(x, a), b);
    case 'Sigmoid': return 1 / (1 + Math.exp(-x));
    case 'HardSigmoid': return Math.min(Math.max(a * x + b, 0), 1);
    case 'HardSwish': return x * Math.min(Math.max(x / 6 + 0.5, 0), 1);
    case 'Tanh': return Math.tanh(x);
    case 'Elu': return x >= 0 ? x : a * (Math.exp(x) - 1);
  }
}
