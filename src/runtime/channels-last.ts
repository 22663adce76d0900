/**
 * Channels-last exports: tf2onnx and Keras models take [N, H, W, C] images and transpose them to
 * NCHW in their first node. The loader presents such an input as [N, C, H, W] by dropping that
 * Transpose, so preprocessing, batching and every explanation method (whose masks and perturbations
 * are laid out [batch, C, H, W]) treat the model like any other CNN. `Graph.channelsLastInputs`
 * records which inputs were rewritten; `LoadOptions.channelsLast: 'keep'` loads the graph as written.
 */
import type { Graph } from './graph.js';
import { attrInts } from './graph.js';

const TO_NCHW = [0, 3, 1, 2];

/** The graph with every 4-D input whose consumers are all Transpose(perm 0,3,1,2) presented NCHW. */
export function presentChannelsFirst(graph: Graph): Graph {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const rename = new Map<string, string>();
  const drop = new Set<number>();
  const rewritten: string[] = [];
  const inputs = graph.inputs.map((info) => {
    if (info.shape.length !== 4 || outputs.has(info.name)) return info;
    const uses = graph.nodes.map((n, i) => [n, i] as const).filter(([n]) => n.inputs.includes(info.name));
    const ok = uses.length > 0 && uses.every(([n]) => n.opType === 'Transpose' && !n.domain && n.outputs.length === 1
      && !outputs.has(n.outputs[0]!) && (attrInts(n, 'perm') ?? []).join() === TO_NCHW.join());
    if (!ok) return info;
    for (const [n, i] of uses) { drop.add(i); rename.set(n.outputs[0]!, info.name); }
    rewritten.push(info.name);
    const [b, h, w, c] = info.shape;
    return { ...info, shape: [b!, c!, h!, w!] };
  });
  if (!rewritten.length) return graph;
  const nodes = graph.nodes.filter((_, i) => !drop.has(i))
    .map((n) => (n.inputs.some((x) => rename.has(x)) ? { ...n, inputs: n.inputs.map((x) => rename.get(x) ?? x) } : n));
  return { ...graph, nodes, inputs, channelsLastInputs: [...(graph.channelsLastInputs ?? []), ...rewritten] };
}
