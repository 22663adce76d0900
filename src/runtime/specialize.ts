/**
 * Specialisation: the graph for concrete input shapes. Walks nodes in dependency order, evaluates on
 * the host every node whose inputs are known there (constant folding, including Shape chains that
 * depend on the batch size), and infers the shape of every remaining tensor.
 */
import type { Graph, GraphNode } from './graph.js';
import type { OpDef, TensorArg } from '../kernels/types.js';
import type { HostTensor } from './tensor.js';
import { GraphError, XaiError } from './errors.js';
import type { OpRegistry } from '../kernels/registry.js';
import { checkShape } from './limits.js';

export interface SpecNode {
  node: GraphNode;
  op: OpDef;
  inputs: (TensorArg | undefined)[];
  outShapes: number[][];
}

export interface SpecializedGraph {
  nodes: SpecNode[];
  shapes: Map<string, number[]>;
  constants: Map<string, HostTensor>;
  inputNames: string[];
  outputNames: string[];
}

/** Nodes in an order where every input is produced first; throws on cycles or dangling inputs. */
export function topoSort(graph: Graph, known: ReadonlySet<string>): GraphNode[] {
  const producer = new Map<string, GraphNode>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const state = new Map<GraphNode, 1 | 2>();
  const order: GraphNode[] = [];
  const visit = (root: GraphNode) => {
    const stack: [GraphNode, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      if (i === 0) {
        if (state.get(n) === 2) { stack.pop(); continue; }
        state.set(n, 1);
      }
      if (i < n.inputs.length) {
        top[1]++;
        const name = n.inputs[i]!;
        if (!name || known.has(name)) continue;
        const p = producer.get(name);
        if (!p) throw new GraphError(`node '${n.name}' (${n.opType}) reads '${name}', which no node, input or initializer provides`);
        const s = state.get(p);
        if (s === 1) throw new GraphError(`the graph has a cycle through node '${p.name}'`);
        if (s !== 2) stack.push([p, 0]);
      } else {
        state.set(n, 2);
        order.push(n);
        stack.pop();
      }
    }
  };
  for (const n of graph.nodes) visit(n);
  return order;
}

export interface SpecializeOptions {
  /** Values fixed on the host (initializers, constant-bound inputs). */
  constants: ReadonlyMap<string, HostTensor>;
  /** Concrete shapes of the run-time inputs. */
  inputShapes: ReadonlyMap<string, number[]>;
  /** The model's declared batch and the batch of this run: fixed-batch Reshape targets follow the run. */
  declaredBatch?: number;
  batch?: number;
}

export function specialize(graph: Graph, registry: OpRegistry, opts: SpecializeOptions): SpecializedGraph {
  const shapes = new Map<string, number[]>();
  const constants = new Map<string, HostTensor>(opts.constants);
  for (const [k, v] of constants) shapes.set(k, [...v.shape]);
  for (const [k, v] of opts.inputShapes) shapes.set(k, [...v]);
  const order = topoSort(graph, new Set(shapes.keys()));
  const nodes: SpecNode[] = [];
  for (const node of order) {
    const op = registry.lookup(node);
    const inputs: (TensorArg | undefined)[] = node.inputs.map((name) => {
      if (!name) return undefined;
      const shape = shapes.get(name);
      if (!shape) throw new GraphError(`node '${node.name}' reads '${name}' before it is computed`);
      const c = constants.get(name);
      return c ? { shape, constant: c } : { shape };
    });
    try {
      maybeFollowBatch(node, inputs, opts);
      const folded = op.evalHost?.(node, inputs);
      if (folded) {
        folded.forEach((t, i) => { const o = node.outputs[i]; if (o) { constants.set(o, t); shapes.set(o, [...t.shape]); } });
        continue;
      }
      const outShapes = op.inferShapes(node, inputs);
      outShapes.forEach((s, i) => checkShape(node, node.outputs[i] ?? `#${i}`, s));
      outShapes.forEach((s, i) => { const o = node.outputs[i]; if (o) shapes.set(o, s); });
      nodes.push({ node, op, inputs, outShapes });
    } catch (e) {
      if (e instanceof XaiError) throw e;
      throw new GraphError(`node '${node.name}' (${node.opType}): ${(e as Error).message}`, { cause: e });
    }
  }
  return {
    nodes, shapes, constants,
    inputNames: [...opts.inputShapes.keys()],
    outputNames: graph.outputs.map((o) => o.name),
  };
}

/**
 * Models exported with a fixed batch of 1 hard-code it in Reshape targets ([1, 256]); when such a
 * model runs a larger batch, a target whose first entry is the declared batch and whose input
 * carries the run's batch in dimension 0 is rewritten to follow the run.
 */
function maybeFollowBatch(node: GraphNode, inputs: (TensorArg | undefined)[], opts: SpecializeOptions): void {
  if (node.opType !== 'Reshape' || opts.batch === undefined || opts.declaredBatch === undefined || opts.batch === opts.declaredBatch) return;
  const data = inputs[0];
  const target = inputs[1]?.constant;
  if (!data || data.constant || !target || target.data.length === 0) return;
  if (target.data[0] === opts.declaredBatch && data.shape[0] === opts.batch) {
    const d = Float64Array.from(target.data);
    d[0] = opts.batch;
    inputs[1] = { shape: inputs[1]!.shape, constant: { dtype: target.dtype, shape: target.shape, data: d } };
  }
}
