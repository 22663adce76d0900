/**
 * Runs an ONNX CNN graph as TensorFlow.js ops, so the TF.js peer executes the same architecture
 * with the same weights (the brief asked only for the same architecture; using the same weights
 * also lets the bench check its outputs). The translation is what a TF.js user would write by
 * hand: NHWC activations, HWIO filters, BatchNormalization folded into the preceding convolution,
 * Relu fused into conv2d / depthwiseConv2d (tf.fused), bias fused into matMul. Every value carries
 * a layout permutation (physical axis i holds logical ONNX axis perm[i]) so NCHW-minded ops such as
 * ShuffleNet's channel shuffle (Reshape 5-D, Transpose, Reshape) map onto NHWC without extra copies.
 * Supports the ops of the benchmark's models; anything else throws.
 */
import type * as tfNs from '@tensorflow/tfjs-core';
import { decodeOnnx } from '../src/runtime/onnx.js';
import type { Graph, GraphNode } from '../src/runtime/graph.js';
import type { HostTensor } from '../src/runtime/tensor.js';

type TF = typeof tfNs;
type T = tfNs.Tensor;
interface Val { t: T; perm: number[] }

const ident = (r: number) => Array.from({ length: r }, (_, i) => i);
const canonical = (r: number) => (r === 4 ? [0, 2, 3, 1] : r === 5 ? [0, 3, 4, 1, 2] : ident(r));
const eq = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const ints = (n: GraphNode, k: string): number[] | undefined => { const v = n.attrs[k]; return Array.isArray(v) ? (v as number[]).map(Number) : typeof v === 'number' ? [v] : undefined; };
const int = (n: GraphNode, k: string, d: number) => { const v = n.attrs[k]; return typeof v === 'number' ? v : d; };

/** Folds BatchNormalization into a preceding Conv whose output nothing else reads. */
function foldBatchNorm(g: Graph): void {
  const consumers = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const producer = new Map<string, GraphNode>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const drop = new Set<GraphNode>();
  for (const bn of g.nodes) {
    if (bn.opType !== 'BatchNormalization') continue;
    const conv = producer.get(bn.inputs[0]!);
    if (!conv || conv.opType !== 'Conv' || consumers.get(bn.inputs[0]!) !== 1 || outputs.has(bn.inputs[0]!)) continue;
    const [s, b, m, v] = bn.inputs.slice(1, 5).map((k) => g.initializers.get(k));
    const w = g.initializers.get(conv.inputs[1]!);
    if (!s || !b || !m || !v || !w) continue;
    const eps = typeof bn.attrs['epsilon'] === 'number' ? (bn.attrs['epsilon'] as number) : 1e-5;
    const cout = w.shape[0]!; const per = w.data.length / cout;
    const oldBias = conv.inputs[2] ? g.initializers.get(conv.inputs[2]) : undefined;
    const nw = new Float32Array(w.data.length); const nb = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const k = s.data[c]! / Math.sqrt(v.data[c]! + eps);
      for (let i = 0; i < per; i++) nw[c * per + i] = w.data[c * per + i]! * k;
      nb[c] = ((oldBias?.data[c] ?? 0) - m.data[c]!) * k + b.data[c]!;
    }
    const wName = `${conv.name}.folded_w`; const bName = `${conv.name}.folded_b`;
    g.initializers.set(wName, { dtype: 'float32', shape: w.shape, data: nw });
    g.initializers.set(bName, { dtype: 'float32', shape: [cout], data: nb });
    conv.inputs = [conv.inputs[0]!, wName, bName];
    conv.outputs = [bn.outputs[0]!];
    drop.add(bn);
  }
  g.nodes = g.nodes.filter((n) => !drop.has(n));
}

export interface TfModel {
  /** NCHW input of shape `shape`; returns output 0 in ONNX (logical) layout. */
  run(shape: number[], input: Float32Array): Promise<Float32Array>;
  dispose(): void;
}

export function buildTfModel(tf: TF, bytes: Uint8Array): TfModel {
  const g = decodeOnnx(bytes);
  foldBatchNorm(g);
  const consumers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const owned: T[] = [];
  const keep = <X extends T>(t: X): X => { owned.push(t); return t; };
  const host = (name: string): HostTensor | undefined => g.initializers.get(name);
  const constVals = new Map<string, Val>();
  const constVal = (name: string): Val => {
    let v = constVals.get(name);
    if (!v) {
      const h = host(name)!;
      v = { t: keep(tf.keep(tf.tensor(Float32Array.from(h.data), [...h.shape]))), perm: ident(h.shape.length) };
      constVals.set(name, v);
    }
    return v;
  };

  // Weights: conv filters to HWIO (or depthwise [kh, kw, C, 1]), matmul operands as given.
  interface ConvPlan { filter: T; bias?: T; depthwise: boolean; strides: [number, number]; dilations: [number, number]; pad: 'same' | number | [[number, number], [number, number], [number, number], [number, number]]; relu: boolean }
  const convPlans = new Map<GraphNode, ConvPlan>();
  const fusedRelu = new Set<GraphNode>();
  for (const n of g.nodes) {
    if (n.opType !== 'Conv') continue;
    const w = host(n.inputs[1]!);
    if (!w || w.shape.length !== 4) throw new Error(`tfjs: Conv ${n.name} needs a constant 4-D weight`);
    const [co, ci, kh, kw] = w.shape as [number, number, number, number];
    const group = int(n, 'group', 1);
    const depthwise = group > 1;
    if (depthwise && !(ci === 1 && co === group)) throw new Error(`tfjs: grouped Conv ${n.name} (group ${group}) is not a depthwise conv`);
    const f = new Float32Array(w.data.length);
    // ONNX [co, ci, kh, kw] -> HWIO [kh, kw, ci, co]; depthwise [C, 1, kh, kw] -> [kh, kw, C, 1].
    for (let o = 0; o < co; o++) for (let i = 0; i < ci; i++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      const src = ((o * ci + i) * kh + y) * kw + x;
      f[depthwise ? (y * kw + x) * co + o : ((y * kw + x) * ci + i) * co + o] = w.data[src]!;
    }
    const filter = keep(tf.tensor4d(f, depthwise ? [kh, kw, co, 1] : [kh, kw, ci, co]));
    const b = n.inputs[2] ? host(n.inputs[2]) : undefined;
    const bias = b ? keep(tf.tensor1d(Float32Array.from(b.data))) : undefined;
    const p = ints(n, 'pads') ?? [0, 0, 0, 0];
    const autoPad = typeof n.attrs['auto_pad'] === 'string' ? (n.attrs['auto_pad'] as string) : 'NOTSET';
    const pad: ConvPlan['pad'] = autoPad.startsWith('SAME') ? 'same' : p.every((x) => x === p[0]) ? p[0]! : [[0, 0], [p[0]!, p[2]!], [p[1]!, p[3]!], [0, 0]];
    const next = consumers.get(n.outputs[0]!) ?? [];
    const relu = next.length === 1 && next[0]!.opType === 'Relu' && !graphOutputs.has(n.outputs[0]!);
    if (relu) fusedRelu.add(next[0]!);
    const s = ints(n, 'strides') ?? [1, 1]; const d = ints(n, 'dilations') ?? [1, 1];
    convPlans.set(n, { filter, bias, depthwise, strides: [s[0]!, s[1]!], dilations: [d[0]!, d[1]!], pad, relu });
  }

  const logicalShape = (v: Val): number[] => { const s = new Array<number>(v.perm.length); v.perm.forEach((l, i) => { s[l] = v.t.shape[i]!; }); return s; };
  const toPerm = (v: Val, want: number[]): Val => (eq(v.perm, want) ? v : { t: tf.transpose(v.t, want.map((l) => v.perm.indexOf(l))), perm: want });
  /** Brings two operands of a broadcasting op to one layout (the higher-rank operand's). */
  const align = (a: Val, b: Val): [Val, Val] => {
    if (a.perm.length < b.perm.length) { const [y, x] = align(b, a); return [x, y]; }
    if (b.perm.length < a.perm.length) {
      const ls = logicalShape(b);
      const full = [...new Array<number>(a.perm.length - ls.length).fill(1), ...ls];
      b = { t: tf.reshape(b.t, full), perm: ident(full.length) };
    }
    return [a, toPerm(b, a.perm)];
  };

  const runGraph = (x: T): T => {
    const env = new Map<string, Val>();
    env.set(g.inputs[0]!.name, { t: x, perm: [0, 1, 2, 3] });
    const get = (name: string): Val => env.get(name) ?? constVal(name);
    for (const n of g.nodes) {
      const out = n.outputs[0]!;
      const set = (v: Val) => env.set(out, v);
      switch (n.opType) {
        case 'Conv': {
          const c = convPlans.get(n)!;
          const xin = toPerm(get(n.inputs[0]!), [0, 2, 3, 1]).t as tfNs.Tensor4D;
          const activation = c.relu ? 'relu' : 'linear';
          const y = c.depthwise
            ? tf.fused.depthwiseConv2d({ x: xin, filter: c.filter as tfNs.Tensor4D, strides: c.strides, pad: c.pad as 'same', dilations: c.dilations, bias: c.bias, activation })
            : tf.fused.conv2d({ x: xin, filter: c.filter as tfNs.Tensor4D, strides: c.strides, pad: c.pad, dilations: c.dilations, bias: c.bias, activation });
          // A fused Relu's output name aliases the conv output.
          set({ t: y, perm: [0, 2, 3, 1] });
          if (c.relu) env.set(consumers.get(out)![0]!.outputs[0]!, { t: y, perm: [0, 2, 3, 1] });
          break;
        }
        case 'Relu': if (!fusedRelu.has(n)) { const v = get(n.inputs[0]!); set({ t: tf.relu(v.t), perm: v.perm }); } break;
        case 'Add': case 'Mul': case 'Sub': case 'Div': {
          const [a, b] = align(get(n.inputs[0]!), get(n.inputs[1]!));
          const f = n.opType === 'Add' ? tf.add : n.opType === 'Mul' ? tf.mul : n.opType === 'Sub' ? tf.sub : tf.div;
          set({ t: f(a.t, b.t), perm: a.perm });
          break;
        }
        case 'MaxPool': case 'AveragePool': {
          let xin = toPerm(get(n.inputs[0]!), [0, 2, 3, 1]).t as tfNs.Tensor4D;
          const k = ints(n, 'kernel_shape')!; const s = ints(n, 'strides') ?? [1, 1]; const p = [...(ints(n, 'pads') ?? [0, 0, 0, 0])];
          if (int(n, 'ceil_mode', 0)) {
            for (const ax of [0, 1]) {
              const size = xin.shape[ax + 1]!;
              let outN = Math.ceil((size + p[ax]! + p[ax + 2]! - k[ax]!) / s[ax]!) + 1;
              if ((outN - 1) * s[ax]! >= size + p[ax]!) outN--;
              p[ax + 2] = p[ax + 2]! + Math.max(0, (outN - 1) * s[ax]! + k[ax]! - (size + p[ax]! + p[ax + 2]!));
            }
          }
          let pad: number | 'valid' = p.every((q) => q === p[0]) ? p[0]! : 'valid';
          if (pad === 'valid' && p.some((q) => q > 0)) {
            xin = tf.pad(xin, [[0, 0], [p[0]!, p[2]!], [p[1]!, p[3]!], [0, 0]], n.opType === 'MaxPool' ? -3.4e38 : 0);
          } else if (pad === 0) pad = 'valid';
          const y = n.opType === 'MaxPool' ? tf.maxPool(xin, [k[0]!, k[1]!], [s[0]!, s[1]!], pad) : tf.avgPool(xin, [k[0]!, k[1]!], [s[0]!, s[1]!], pad);
          set({ t: y, perm: [0, 2, 3, 1] });
          break;
        }
        case 'GlobalAveragePool': { const v = toPerm(get(n.inputs[0]!), [0, 2, 3, 1]); set({ t: tf.mean(v.t, [1, 2], true), perm: v.perm }); break; }
        case 'Concat': {
          const vals = n.inputs.map(get);
          const perm = vals[0]!.perm;
          const axis = (int(n, 'axis', 1) + perm.length) % perm.length;
          set({ t: tf.concat(vals.map((v) => toPerm(v, perm).t), perm.indexOf(axis)), perm });
          break;
        }
        case 'Split': {
          const v = get(n.inputs[0]!);
          const axis = (int(n, 'axis', 0) + v.perm.length) % v.perm.length;
          const sizesIn = n.inputs[1] ? host(n.inputs[1]) : undefined;
          const sizes = sizesIn ? Array.from(sizesIn.data, Number) : ints(n, 'split') ?? new Array<number>(n.outputs.length).fill(logicalShape(v)[axis]! / n.outputs.length);
          const parts = tf.split(v.t, sizes, v.perm.indexOf(axis));
          n.outputs.forEach((o, i) => env.set(o, { t: parts[i]!, perm: v.perm }));
          break;
        }
        case 'Reshape': case 'Flatten': {
          const v = get(n.inputs[0]!);
          const ls = logicalShape(v);
          let target: number[];
          if (n.opType === 'Flatten') {
            const axis = int(n, 'axis', 1);
            target = [ls.slice(0, axis).reduce((a, b) => a * b, 1), ls.slice(axis).reduce((a, b) => a * b, 1)];
          } else {
            const sh = Array.from(host(n.inputs[1]!)!.data, Number);
            target = sh.map((d, i) => (d === 0 ? ls[i]! : d));
            const known = target.reduce((a, b) => (b === -1 ? a : a * b), 1);
            const total = ls.reduce((a, b) => a * b, 1);
            target = target.map((d) => (d === -1 ? total / known : d));
          }
          const want = canonical(target.length);
          const physical = want.map((l) => target[l]!);
          // Splits or merges of the channel axis that keep N, H, W (ShuffleNet), or a flatten of 1x1 maps.
          const keepsNHW = (ls.length === 4 || ls.length === 5) && (target.length === 4 || target.length === 5) && ls[0] === target[0]
            && ls[ls.length - 1] === target[target.length - 1] && ls[ls.length - 2] === target[target.length - 2] && eq(v.perm, canonical(ls.length));
          const flat1x1 = ls.length === 4 && target.length === 2 && ls[2] === 1 && ls[3] === 1 && eq(v.perm, [0, 2, 3, 1]);
          if (keepsNHW) set({ t: tf.reshape(v.t, physical), perm: want });
          else if (flat1x1) set({ t: tf.reshape(v.t, target), perm: [0, 1] });
          else set({ t: tf.reshape(toPerm(v, ident(ls.length)).t, target), perm: ident(target.length) });
          break;
        }
        case 'Transpose': {
          const v = get(n.inputs[0]!);
          const p = ints(n, 'perm') ?? ident(v.perm.length).reverse();
          const want = canonical(p.length);
          const invIn = (l: number) => v.perm.indexOf(l);
          set({ t: tf.transpose(v.t, want.map((l) => invIn(p[l]!))), perm: want });
          break;
        }
        case 'ReduceMean': {
          const v = get(n.inputs[0]!);
          const r = v.perm.length;
          const axesIn = n.inputs[1] ? host(n.inputs[1]) : undefined;
          const axes = (axesIn ? Array.from(axesIn.data, Number) : ints(n, 'axes') ?? ident(r)).map((a) => (a + r) % r);
          const keepDims = int(n, 'keepdims', 1) === 1;
          const y = tf.mean(v.t, axes.map((a) => v.perm.indexOf(a)), keepDims);
          if (keepDims) set({ t: y, perm: v.perm });
          else {
            const rest = v.perm.filter((l) => !axes.includes(l));
            const sorted = [...rest].sort((a, b) => a - b);
            set({ t: y, perm: rest.map((l) => sorted.indexOf(l)) });
          }
          break;
        }
        case 'MatMul': case 'Gemm': {
          const a = get(n.inputs[0]!); const b = get(n.inputs[1]!);
          if (a.perm.length !== 2 || b.perm.length !== 2) throw new Error(`tfjs: ${n.opType} ${n.name} supports 2-D operands only`);
          const A2 = toPerm(a, [0, 1]).t as tfNs.Tensor2D; const B2 = toPerm(b, [0, 1]).t as tfNs.Tensor2D;
          const gemm = n.opType === 'Gemm';
          if (gemm && ((n.attrs['alpha'] as number | undefined) ?? 1) !== 1) throw new Error('tfjs: Gemm alpha != 1');
          const bias = gemm && n.inputs[2] ? get(n.inputs[2]).t : undefined;
          set({ t: tf.fused.matMul({ a: A2, b: B2, transposeA: gemm && int(n, 'transA', 0) === 1, transposeB: gemm && int(n, 'transB', 0) === 1, bias }), perm: [0, 1] });
          break;
        }
        case 'Softmax': {
          const v = toPerm(get(n.inputs[0]!), ident(get(n.inputs[0]!).perm.length));
          const r = v.perm.length;
          const axis = (int(n, 'axis', (n.attrs['_opset'] as number) >= 13 ? -1 : 1) + r) % r;
          const shape = v.t.shape;
          if ((n.attrs['_opset'] as number) < 13 || axis === r - 1) {
            const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
            set({ t: tf.reshape(tf.softmax(tf.reshape(v.t, [outer, -1])), shape), perm: v.perm });
          } else throw new Error('tfjs: Softmax on an inner axis');
          break;
        }
        case 'Dropout': case 'Identity': set(get(n.inputs[0]!)); break;
        default: throw new Error(`tfjs translation: unsupported op ${n.opType}`);
      }
    }
    const y = get(g.outputs[0]!.name);
    return toPerm(y, ident(y.perm.length)).t;
  };

  return {
    async run(shape, input) {
      const y = tf.tidy(() => runGraph(tf.tensor(input, shape)));
      const data = (await y.data()) as Float32Array;
      y.dispose();
      return Float32Array.from(data);
    },
    dispose() { for (const t of owned) t.dispose(); },
  };
}
