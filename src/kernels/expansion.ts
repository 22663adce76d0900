/**
 * Building blocks for ops that expand into other ops (OpDef.expand): a node list builder with
 * names derived from the source node, and the OpDef of an op that only expands. Quantised
 * (QOperator) ops use these to become dequantize → float op → quantize, which is the fake
 * quantisation onnxruntime's integer kernels compute, up to rounding.
 */
import type { OpDef, OpSchema } from './types.js';
import type { AttrValue, GraphNode } from '../runtime/graph.js';
import { GraphError } from '../runtime/errors.js';
import type { HostTensor } from '../runtime/tensor.js';

/** The default-domain opset given to nodes expanded from a contrib-domain node. */
const CONTRIB_DEFAULT_OPSET = 13;

/** Accumulates the nodes one source node expands to. */
export class Expansion {
  readonly nodes: GraphNode[] = [];
  private k = 0;
  private readonly opset: number;

  constructor(readonly src: GraphNode) {
    const v = src.attrs['_opset'];
    this.opset = !src.domain && typeof v === 'number' ? v : CONTRIB_DEFAULT_OPSET;
  }

  /** Appends a default-domain node; returns its output's name (`out`, or a fresh internal one). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    const k = this.k++;
    const name = out ?? `${this.src.name}::${opType}${k}`;
    this.nodes.push({ name: `${this.src.name}/${opType}${k}`, opType, domain: '', inputs: [...inputs], outputs: [name], attrs: { _opset: this.opset, ...attrs } });
    return name;
  }

  /** A Constant node holding `values` (float32 unless `dtype`); returns its output. */
  constant(values: readonly number[], shape: readonly number[] = [values.length], dtype: 'float32' | 'int64' = 'float32'): string {
    const value: HostTensor = { dtype, shape: [...shape], data: dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values) };
    return this.op('Constant', [], { value });
  }

  /** DequantizeLinear; `axis` applies when the scale has more than one element. */
  dq(x: string, scale: string, zeroPoint: string | undefined, axis?: number): string {
    return this.op('DequantizeLinear', [x, scale, zeroPoint ?? ''], axis === undefined ? {} : { axis });
  }

  /** QuantizeLinear into `out` (the quantised level, held as float, as QuantizeLinear computes it). */
  q(y: string, scale: string, zeroPoint: string | undefined, out?: string, axis?: number): string {
    return this.op('QuantizeLinear', [y, scale, zeroPoint ?? ''], axis === undefined ? {} : { axis }, out);
  }

  /** The source node's attributes except the given ones (copied onto its float op). */
  attrsExcept(...drop: string[]): Record<string, AttrValue> {
    const out: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(this.src.attrs)) if (k !== '_opset' && !drop.includes(k)) out[k] = v;
    return out;
  }

  /** Throws when a required input is absent. */
  need(i: number, what: string): string {
    const v = this.src.inputs[i];
    if (!v) throw new GraphError(`${this.src.opType} '${this.src.name}': input ${i} (${what}) is required`);
    return v;
  }

  /** Refuses an attribute value this expansion does not implement. */
  refuse(cond: boolean, what: string): void {
    if (cond) throw new GraphError(`${this.src.opType} '${this.src.name}' (domain ${this.src.domain || 'ai.onnx'}): ${what} is not supported`);
  }
}

/**
 * The OpDef of an op that only expands: the runtime replaces its nodes at load, so shape inference
 * and kernels are never asked of it. `schema`: its signatures, checked at load before expansion.
 */
export function expandingOp(opTypes: readonly string[], domain: string | undefined, expand: (e: Expansion) => void,
  hostInputs?: readonly number[], schema?: OpSchema): OpDef {
  return {
    opTypes,
    ...(domain ? { domain } : {}),
    ...(schema ? { schema } : {}),
    // Scales and zero points: the parts read them at build time, so they must be known on the host.
    ...(hostInputs ? { hostInputs: () => hostInputs } : {}),
    inferShapes(node) {
      throw new GraphError(`${node.opType} '${node.name}' should have been expanded at load`);
    },
    expand(node) {
      const e = new Expansion(node);
      expand(e);
      return e.nodes;
    },
  };
}
