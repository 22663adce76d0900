/**
 * Op expansion: every node whose OpDef declares `expand` (QOperator and com.microsoft quantised
 * ops) is replaced at load by the nodes it expands to, recursively, so everything after decoding
 * (specialisation, fusion, reverse mode, the explainers' graph walks) sees only kernel ops.
 */
import type { Graph, GraphNode } from './graph.js';
import type { OpRegistry } from '../kernels/registry.js';
import { GraphError } from './errors.js';

/** Expansions nest at most this deep (an expansion that names itself would otherwise loop). */
const MAX_DEPTH = 4;

/** The graph with expandable nodes replaced; the same object when none is present. */
export function expandGraph(graph: Graph, registry: OpRegistry): Graph {
  if (!graph.nodes.some((n) => registry.find(n)?.expand)) return graph;
  const nodes: GraphNode[] = [];
  const visit = (n: GraphNode, depth: number): void => {
    const op = registry.find(n);
    if (!op?.expand) { nodes.push(n); return; }
    if (depth >= MAX_DEPTH) throw new GraphError(`${n.opType} '${n.name}': expansion nests deeper than ${MAX_DEPTH}`);
    for (const m of op.expand(n)) visit(m, depth + 1);
  };
  for (const n of graph.nodes) visit(n, 0);
  registry.checkSupported(nodes);
  return { ...graph, nodes: shareDequantize(nodes, new Set(graph.outputs.map((o) => o.name))) };
}

/**
 * Consumers of one quantised tensor each expand to their own DequantizeLinear of it; identical ones
 * become one, so the float tensor exists once. Besides saving a dispatch, that single tensor then
 * dominates the graph where the quantised one did, which is what SISE's block search and the CAMs
 * look for (a float feature map, not zero-point-shifted levels).
 */
function shareDequantize(nodes: GraphNode[], outputs: ReadonlySet<string>): GraphNode[] {
  const first = new Map<string, string>();
  const rename = new Map<string, string>();
  const kept = nodes.filter((n) => {
    if (n.opType !== 'DequantizeLinear' || n.domain || n.outputs.length !== 1 || outputs.has(n.outputs[0]!)) return true;
    const key = JSON.stringify([n.inputs, n.attrs['axis'] ?? null, n.attrs['block_size'] ?? null]);
    const seen = first.get(key);
    if (seen === undefined) { first.set(key, n.outputs[0]!); return true; }
    rename.set(n.outputs[0]!, seen);
    return false;
  });
  if (!rename.size) return nodes;
  return kept.map((n) => (n.inputs.some((i) => rename.has(i)) ? { ...n, inputs: n.inputs.map((i) => rename.get(i) ?? i) } : n));
}
