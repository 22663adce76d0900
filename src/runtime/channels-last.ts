/**
 * Channels-last exports: tf2onnx and Keras models take [N, H, W, C] images and transpose them to
 * NCHW in their first node (int8 conversions sometimes quantise first, then transpose). The loader
 * presents such an input as [N, C, H, W] by dropping that Transpose, so preprocessing, batching and
 * every explanation method (whose masks and perturbations are laid out [batch, C, H, W]) treat the
 * model like any other CNN. `Graph.channelsLastInputs` records which inputs were rewritten;
 * `LoadOptions.channelsLast: 'keep'` loads the graph as written.
 */
import type { Graph, GraphNode } from './graph.js';
import { attrInts } from './graph.js';

const TO_NCHW = [0, 3, 1, 2].join();

/** Ops that act element by element with per-tensor parameters, so they commute with a transpose. */
function layoutFree(n: GraphNode, graph: Graph): boolean {
  if (n.domain || n.outputs.length !== 1) return false;
  if (n.opType === 'Cast' || n.opType === 'Identity') return true;
  if (n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear') return false;
  return n.inputs.slice(1).every((p) => !p || (graph.initializers.get(p)?.data.length ?? 0) === 1);
}

/** The graph with every 4-D input that reaches only Transpose(perm 0,3,1,2) presented NCHW. */
export function presentChannelsFirst(graph: Graph): Graph {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const consumers = (t: string) => graph.nodes.filter((n) => n.inputs.includes(t));
  const rename = new Map<string, string>();
  const drop = new Set<GraphNode>();
  const rewritten: string[] = [];
  const inputs = graph.inputs.map((info) => {
    if (info.shape.length !== 4 || outputs.has(info.name)) return info;
    // Follow single-consumer layout-free ops from the input to the Transposes that end the chain.
    let t = info.name;
    for (let c = consumers(t); c.length === 1 && layoutFree(c[0]!, graph) && !outputs.has(c[0]!.outputs[0]!); c = consumers(t)) t = c[0]!.outputs[0]!;
    const uses = consumers(t);
    const ok = uses.length > 0 && uses.every((n) => n.opType === 'Transpose' && !n.domain && n.outputs.length === 1
      && !outputs.has(n.outputs[0]!) && (attrInts(n, 'perm') ?? []).join() === TO_NCHW);
    if (!ok) return info;
    for (const n of uses) { drop.add(n); rename.set(n.outputs[0]!, t); }
    rewritten.push(info.name);
    const [b, h, w, c] = info.shape;
    return { ...info, shape: [b!, c!, h!, w!] };
  });
  if (!rewritten.length) return graph;
  const nodes = graph.nodes.filter((n) => !drop.has(n))
    .map((n) => (n.inputs.some((x) => rename.has(x)) ? { ...n, inputs: n.inputs.map((x) => rename.get(x) ?? x) } : n));
  return { ...graph, nodes, inputs, channelsLastInputs: [...(graph.channelsLastInputs ?? []), ...rewritten] };
}
