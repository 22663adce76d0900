/**
 * Block detection for SISE (methods spec 1.2 phase 1, [P] rule): the output of the last layer of
 * every convolutional block, i.e. the input of each down-sampling stage. Over the specialised,
 * unfused graph at batch 1:
 *  1. 4-D activation tensors are grouped by spatial resolution (a "level");
 *  2. per level, the LAST tensor that every input→output path passes through (a dominator of the
 *     output) is chosen, preferring post-activation tensors: a raw Conv/BatchNorm/Gemm output is
 *     passed over for the last earlier dominator that is not one (when the level has any). This
 *     gives the post-ReLU output of a VGG block and the ReLU(Add) output of a ResNet stage
 *     (the paper's layers); for DenseNet it gives the transition's ReLU(BN(Concat)) rather than
 *     the transition conv that feeds the average pool; for MobileNetV2 the expansion activation
 *     that the strided depthwise conv consumes (spec step 3, "what the strided node consumes");
 *  3. only levels where a weighted layer (Conv, Gemm...) writes a 4-D output count, so the raw
 *     image's level, a lone pooling output (VGG's pool5, ShuffleNet's max-pool) and 1×1 levels
 *     (global pooling, squeeze-excitation) contribute nothing; padding outputs are never chosen;
 *  4. layers are ordered shallow → deep.
 */
import type { Model } from '../runtime/model.js';
import type { SpecializedGraph } from '../runtime/specialize.js';
import { InputError } from '../runtime/errors.js';

/** A block output SISE probes: the tensor name and its [N, C, H, W] shape. */
export interface BlockLayer { name: string; shape: number[] }

/** Ops whose output counts as a learned feature (a candidate needs one of them upstream). */
const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'ConvInteger', 'QLinearConv', 'FusedConv']);
/** Linear layers: their raw outputs are pre-activation. */
const LINEAR = new Set([...WEIGHTED, 'BatchNormalization', 'InstanceNormalization', 'LayerNormalization']);
/** Ops that only re-frame a tensor: never a block output (spec: skip zero-padding layers). */
const SKIPPED = new Set(['Pad']);

/**
 * Tensors (in topological order) that lie on every path from `source` to any graph output.
 * In a DAG numbered topologically, a vertex v on some source→sink path is on all of them iff no
 * edge between such vertices jumps over it (pos(a) < pos(v) < pos(b)).
 */
export function outputDominators(g: SpecializedGraph, source: string): string[] {
  const order: string[] = [source];
  const pos = new Map<string, number>([[source, 0]]);
  const edges: [number, number][] = [];
  for (const s of g.nodes) {
    const ins = s.node.inputs.filter((n) => n && !g.constants.has(n) && pos.has(n));
    for (const o of s.node.outputs) {
      if (!o || !g.shapes.has(o) || pos.has(o)) continue;
      pos.set(o, order.length);
      order.push(o);
      for (const i of ins) edges.push([pos.get(i)!, pos.get(o)!]);
    }
  }
  const sink = order.length;
  for (const o of g.outputNames) { const p = pos.get(o); if (p !== undefined) edges.push([p, sink]); }
  // Only vertices on a source→sink path matter: reachable forward from the source and backward from the sink.
  const fwd = new Uint8Array(sink + 1); fwd[0] = 1;
  const bwd = new Uint8Array(sink + 1); bwd[sink] = 1;
  const sorted = [...edges].sort((a, b) => a[0] - b[0]);
  for (const [a, b] of sorted) if (fwd[a]) fwd[b] = 1;
  for (const [a, b] of [...edges].sort((x, y) => y[1] - x[1])) if (bwd[b]) bwd[a] = 1;
  const live = (v: number) => fwd[v] === 1 && bwd[v] === 1;
  if (!live(sink)) return [];
  // cover[v] > 0 when an edge between live vertices jumps over v.
  const diff = new Int32Array(sink + 2);
  for (const [a, b] of edges) if (live(a) && live(b) && b > a + 1) { diff[a + 1]!++; diff[b]!--; }
  const out: string[] = [];
  let cover = 0;
  for (let v = 0; v < sink; v++) {
    cover += diff[v]!;
    if (live(v) && cover === 0) out.push(order[v]!);
  }
  return out;
}

/** The block layers of a specialised graph whose image input is `input`. */
export function detectBlocksInGraph(g: SpecializedGraph, input: string): BlockLayer[] {
  const producer = new Map<string, string>();
  for (const s of g.nodes) for (const o of s.node.outputs) if (o) producer.set(o, s.node.opType);
  // Tensors downstream of a weighted layer.
  const feature = new Set<string>();
  for (const s of g.nodes) {
    const fed = WEIGHTED.has(s.node.opType) || s.node.inputs.some((n) => n && feature.has(n));
    if (fed) for (const o of s.node.outputs) if (o) feature.add(o);
  }
  const level = (shape: readonly number[]) => `${shape[2]}x${shape[3]}`;
  const convLevels = new Set<string>();
  for (const s of g.nodes) if (WEIGHTED.has(s.node.opType)) for (const sh of s.outShapes) if (sh.length === 4) convLevels.add(level(sh));
  const lastAt = new Map<string, string>();
  const lastActAt = new Map<string, string>();
  for (const name of outputDominators(g, input)) {
    const shape = g.shapes.get(name)!;
    if (shape.length !== 4 || shape[2]! * shape[3]! <= 1 || !convLevels.has(level(shape))) continue;
    const op = producer.get(name) ?? '';
    if (!feature.has(name) || SKIPPED.has(op)) continue;
    lastAt.set(level(shape), name);
    if (!LINEAR.has(op)) lastActAt.set(level(shape), name);
  }
  const chosen = [...lastAt].map(([lv, name]) => lastActAt.get(lv) ?? name);
  const pos = new Map<string, number>();
  g.nodes.forEach((s, i) => { for (const o of s.node.outputs) if (o) pos.set(o, i); });
  return chosen.sort((a, b) => pos.get(a)! - pos.get(b)!).map((name) => ({ name, shape: [...g.shapes.get(name)!] }));
}

/**
 * SISE's layers for `model` (image = its first input, batch 1), or the user's `layers` validated
 * (each must be a 4-D tensor of the model), kept in the given order.
 */
export function detectBlocks(model: Model, opts: { layers?: readonly string[] } = {}): BlockLayer[] {
  const g = model.specialize(model.inputShapes(1), new Set(), false);
  if (opts.layers) {
    return opts.layers.map((name) => {
      const shape = g.shapes.get(name);
      if (!shape) throw new InputError(`no tensor named '${name}' in the model`);
      if (shape.length !== 4 || g.constants.has(name)) throw new InputError(`layer '${name}' is not a 4-D activation (shape [${shape.join(', ')}])`);
      return { name, shape: [...shape] };
    });
  }
  const input = model.inputs[0]?.name;
  if (!input) throw new InputError('the model has no input');
  const blocks = detectBlocksInGraph(g, input);
  if (!blocks.length) throw new InputError('no convolutional block found (no 4-D feature tensor dominates the output)');
  return blocks;
}
