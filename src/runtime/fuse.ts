/**
 * Graph rewrites on a specialised graph: BatchNormalization folded into the preceding Conv's
 * weights, Conv+Add (residual) and Conv/Gemm/MatMul+activation fused into one kernel's epilogue.
 * A tensor the caller keeps (a tap) or a graph output is never fused away.
 */
import type { SpecNode, SpecializedGraph } from './specialize.js';
import type { GraphNode } from './graph.js';
import { attrFloat } from './graph.js';
import { ACTIVATION_KINDS, activationOf, type ActivationKind } from '../kernels/activation.js';
import type { HostTensor } from './tensor.js';
import { fusedActivation } from '../kernels/activation.js';

function clone(n: GraphNode): GraphNode {
  return { ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } };
}

function consumers(nodes: readonly SpecNode[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  nodes.forEach((s, i) => s.node.inputs.forEach((name) => { if (name) { const l = m.get(name) ?? []; l.push(i); m.set(name, l); } }));
  return m;
}

export interface FuseOptions { keep: ReadonlySet<string>; fuse?: boolean }

export function fuseGraph(g: SpecializedGraph, opts: FuseOptions): void {
  if (opts.fuse === false) return;
  const pinned = new Set([...opts.keep, ...g.outputNames]);
  foldBatchNorm(g, pinned);
  fuseResidualAdd(g, pinned);
  fuseActivation(g, pinned);
  fuseFakeQuant(g, pinned);
}

/** The unique consumer of `s`'s first output, or -1 when it has several, is pinned, or has none. */
function soleConsumer(g: SpecializedGraph, cons: Map<string, number[]>, s: SpecNode, pinned: ReadonlySet<string>): number {
  const out = s.node.outputs[0];
  if (!out || pinned.has(out) || s.node.outputs.length > 1) return -1;
  const c = cons.get(out);
  return c && c.length === 1 ? c[0]! : -1;
}

function foldBatchNorm(g: SpecializedGraph, pinned: ReadonlySet<string>): void {
  const cons = consumers(g.nodes);
  const drop = new Set<number>();
  g.nodes.forEach((s, i) => {
    if (s.node.opType !== 'Conv' || s.node.attrs['_activation'] || s.node.inputs[3]) return;
    const w = s.inputs[1]?.constant;
    if (!w) return;
    const j = soleConsumer(g, cons, s, pinned);
    if (j < 0) return;
    const bn = g.nodes[j]!;
    if (bn.node.opType !== 'BatchNormalization' || bn.node.inputs[0] !== s.node.outputs[0] || bn.node.outputs.filter((o) => o).length > 1) return;
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((k) => bn.inputs[k]?.constant);
    if (!scale || !bias || !mean || !variance) return;
    const eps = attrFloat(bn.node, 'epsilon', 1e-5);
    const cout = w.shape[0]!;
    const per = w.data.length / cout;
    const nw = new Float32Array(w.data.length);
    const nb = new Float32Array(cout);
    const b0 = s.inputs[2]?.constant;
    for (let c = 0; c < cout; c++) {
      const k = scale.data[c]! / Math.sqrt(variance.data[c]! + eps);
      for (let e = 0; e < per; e++) nw[c * per + e] = w.data[c * per + e]! * k;
      nb[c] = ((b0 ? b0.data[c]! : 0) - mean.data[c]!) * k + bias.data[c]!;
    }
    const node = clone(s.node);
    const wName = `${node.name}::bn_weight`;
    const bName = `${node.name}::bn_bias`;
    const wT: HostTensor = { dtype: 'float32', shape: w.shape, data: nw };
    const bT: HostTensor = { dtype: 'float32', shape: [cout], data: nb };
    g.constants.set(wName, wT); g.shapes.set(wName, [...w.shape]);
    g.constants.set(bName, bT); g.shapes.set(bName, [cout]);
    node.inputs[1] = wName; node.inputs[2] = bName;
    node.outputs[0] = bn.node.outputs[0]!;
    g.nodes[i] = { node, op: s.op, inputs: [s.inputs[0], { shape: w.shape, constant: wT }, { shape: [cout], constant: bT }], outShapes: s.outShapes };
    drop.add(j);
  });
  if (drop.size) g.nodes = g.nodes.filter((_, i) => !drop.has(i));
}

function fuseResidualAdd(g: SpecializedGraph, pinned: ReadonlySet<string>): void {
  const cons = consumers(g.nodes);
  const producerIndex = new Map<string, number>();
  g.nodes.forEach((s, i) => s.node.outputs.forEach((o) => producerIndex.set(o, i)));
  const drop = new Set<number>();
  g.nodes.forEach((s, i) => {
    if (s.node.opType !== 'Conv' || s.node.attrs['_activation'] || s.node.inputs[3] || drop.has(i)) return;
    const j = soleConsumer(g, cons, s, pinned);
    if (j < 0) return;
    const add = g.nodes[j]!;
    if (add.node.opType !== 'Add' || drop.has(j)) return;
    const which = add.node.inputs[0] === s.node.outputs[0] ? 1 : 0;
    const other = add.node.inputs[which]!;
    const otherArg = add.inputs[which];
    if (!otherArg || otherArg.constant || add.node.inputs[0] === add.node.inputs[1]) return;
    const outShape = s.outShapes[0]!;
    if (otherArg.shape.length !== outShape.length || otherArg.shape.some((d, k) => d !== outShape[k])) return;
    // The residual must exist when the Conv runs.
    const p = producerIndex.get(other);
    if (p !== undefined && p > i) return;
    const node = clone(s.node);
    while (node.inputs.length < 3) node.inputs.push('');
    node.inputs[3] = other;
    node.outputs[0] = add.node.outputs[0]!;
    const inputs = [...s.inputs];
    while (inputs.length < 3) inputs.push(undefined);
    inputs[3] = otherArg;
    g.nodes[i] = { node, op: s.op, inputs, outShapes: s.outShapes };
    drop.add(j);
  });
  if (drop.size) g.nodes = g.nodes.filter((_, i) => !drop.has(i));
}

const FUSABLE_PRODUCERS = new Set(['Conv', 'Gemm', 'MatMul']);

function fuseActivation(g: SpecializedGraph, pinned: ReadonlySet<string>): void {
  const cons = consumers(g.nodes);
  const drop = new Set<number>();
  g.nodes.forEach((s, i) => {
    if (!FUSABLE_PRODUCERS.has(s.node.opType) || s.node.attrs['_activation']) return;
    const j = soleConsumer(g, cons, s, pinned);
    if (j < 0) return;
    const u = g.nodes[j]!;
    if (!(ACTIVATION_KINDS as readonly string[]).includes(u.node.opType) || u.node.inputs[0] !== s.node.outputs[0]) return;
    let bounds: [number, number] | undefined;
    if (u.node.opType === 'Clip' && (u.node.inputs[1] || u.node.inputs[2])) {
      const lo = u.node.inputs[1] ? u.inputs[1]?.constant : undefined;
      const hi = u.node.inputs[2] ? u.inputs[2]?.constant : undefined;
      if ((u.node.inputs[1] && !lo) || (u.node.inputs[2] && !hi)) return;
      bounds = [lo ? lo.data[0]! : -3.4028234663852886e38, hi ? hi.data[0]! : 3.4028234663852886e38];
    }
    const act = activationOf(u.node, bounds);
    const node = clone(s.node);
    node.attrs['_activation'] = act.kind satisfies ActivationKind;
    node.attrs['_activation_params'] = act.params;
    node.outputs[0] = u.node.outputs[0]!;
    g.nodes[i] = { node, op: s.op, inputs: s.inputs, outShapes: s.outShapes };
    drop.add(j);
  });
  if (drop.size) g.nodes = g.nodes.filter((_, i) => !drop.has(i));
}

const LEVELS: Record<string, [number, number]> = { uint8: [0, 255], int8: [-128, 127] };
/** Activations Conv's uniform epilogue applies (the one that also applies a fused quantisation). */
const UNIFORM_EPILOGUE = new Set(['Relu', 'Clip', 'LeakyRelu']);

/**
 * Conv → QuantizeLinear → DequantizeLinear with one per-tensor scale and zero point (what QOperator
 * ops expand to): the pair becomes the Conv's last epilogue step (`_fakequant`: scale, zero point,
 * level range), saving two passes over the tensor. Only after a piecewise-linear epilogue (the
 * uniform one that applies it), and only when the levels feed nothing but that DequantizeLinear.
 */
function fuseFakeQuant(g: SpecializedGraph, pinned: ReadonlySet<string>): void {
  const cons = consumers(g.nodes);
  const drop = new Set<number>();
  g.nodes.forEach((s, i) => {
    const act = fusedActivation(s.node);
    if (s.node.opType !== 'Conv' || s.node.attrs['_fakequant'] || (act && !UNIFORM_EPILOGUE.has(act.kind))) return;
    const j = soleConsumer(g, cons, s, pinned);
    const q = j < 0 ? undefined : g.nodes[j]!;
    if (!q || q.node.opType !== 'QuantizeLinear' || q.node.inputs[0] !== s.node.outputs[0]) return;
    const k = soleConsumer(g, cons, q, pinned);
    const dq = k < 0 ? undefined : g.nodes[k]!;
    if (!dq || dq.node.opType !== 'DequantizeLinear' || dq.node.inputs[0] !== q.node.outputs[0]) return;
    const scale = q.inputs[1]?.constant, zp = q.node.inputs[2] ? q.inputs[2]?.constant : undefined;
    const dScale = dq.inputs[1]?.constant, dZp = dq.node.inputs[2] ? dq.inputs[2]?.constant : undefined;
    if (!scale || scale.data.length !== 1 || !dScale || dScale.data.length !== 1 || dScale.data[0] !== scale.data[0]) return;
    if ((zp?.data[0] ?? 0) !== (dZp?.data[0] ?? 0) || (q.node.inputs[2] && !zp) || (zp && zp.data.length !== 1)) return;
    const range = LEVELS[zp?.dtype ?? 'uint8'];
    if (!range || !(scale.data[0]! > 0)) return;
    const node = clone(s.node);
    node.attrs['_fakequant'] = [scale.data[0]!, zp?.data[0] ?? 0, range[0], range[1]];
    node.outputs[0] = dq.node.outputs[0]!;
    g.nodes[i] = { node, op: s.op, inputs: s.inputs, outShapes: s.outShapes };
    drop.add(j); drop.add(k);
  });
  if (drop.size) g.nodes = g.nodes.filter((_, i) => !drop.has(i));
}
