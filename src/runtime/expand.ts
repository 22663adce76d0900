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
  return { ...graph, nodes };
}
