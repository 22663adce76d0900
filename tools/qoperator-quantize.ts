/**
 * A small static quantiser to the QOperator format, for benchmarks that cannot run Python (the
 * committed test fixtures come from onnxruntime's own quantiser, tools/quant-fixtures.py). It covers
 * the ops of a ResNet: Conv (+ BatchNormalization, folded) (+ Relu) → QLinearConv, Add (+ Relu) →
 * com.microsoft QLinearAdd, GlobalAveragePool → com.microsoft QLinearGlobalAveragePool, MaxPool and
 * Flatten on the quantised tensor, Gemm → com.microsoft QGemm with a float output. Activations are
 * uint8 with the zero point from the calibrated range (a following Relu makes its lower end 0, as
 * onnxruntime's quantiser does); weights int8 symmetric per output channel; biases int32 at
 * x_scale · w_scale.
 */
import { A, GraphBuilder, decodeModel, encodeModel, makeValueInfo, type OnnxTypes } from './onnx-writer.js';

/** Calibrated [min, max] per float tensor name. */
export type Ranges = ReadonlyMap<string, readonly [number, number]>;

interface QParams { scale: number; zp: number }

function activationParams(lo: number, hi: number): QParams {
  const a = Math.min(lo, 0), b = Math.max(hi, 0);
  const scale = b > a ? (b - a) / 255 : 1;
  return { scale: Math.fround(scale), zp: Math.min(255, Math.max(0, Math.round(-a / scale))) };
}

function floats(t: OnnxTypes.ITensorProto): Float32Array {
  const raw = t.rawData;
  if (raw && raw.length) return new Float32Array(raw.slice().buffer);
  return Float32Array.from(t.floatData ?? []);
}

function attrs(n: OnnxTypes.INodeProto): Record<string, number | number[]> {
  const out: Record<string, number | number[]> = {};
  for (const a of n.attribute ?? []) {
    if (a.ints && a.ints.length) out[a.name!] = a.ints.map(Number);
    else if (a.type === 1) out[a.name!] = a.f ?? 0;
    else out[a.name!] = Number(a.i ?? 0);
  }
  return out;
}

/** Names of every tensor the quantiser needs a range for (calibrate these). */
export function calibrationTensors(bytes: Uint8Array): string[] {
  const g = decodeModel(bytes).graph!;
  return [g.input![0]!.name!, ...(g.node ?? []).flatMap((n) => n.output ?? [])];
}

/** The QOperator model of a float ResNet-style model, given calibrated ranges. */
export function quantizeQOperator(bytes: Uint8Array, ranges: Ranges, name = 'qoperator'): Uint8Array {
  const src = decodeModel(bytes).graph!;
  const init = new Map((src.initializer ?? []).map((t) => [t.name!, t]));
  const nodes = src.node ?? [];
  const consumers = new Map<string, OnnxTypes.INodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const sole = (t: string, op: string): OnnxTypes.INodeProto | undefined => {
    const c = consumers.get(t);
    return c && c.length === 1 && c[0]!.opType === op ? c[0] : undefined;
  };
  const g = new GraphBuilder(name, 13);
  const input = src.input![0]!;
  const dims = input.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
  g.input(input.name!, dims);
  /** Quantised name and parameters of each float tensor produced so far. */
  const q = new Map<string, { name: string } & QParams>();
  const scalar = (v: number) => g.initializer('s*', [], new Float32Array([v]));
  const zero = (v: number) => g.initializer('z*', [], new Uint8Array([v]));
  const params = (t: string): QParams => {
    const r = ranges.get(t);
    if (!r) throw new Error(`no calibrated range for '${t}'`);
    return activationParams(r[0], r[1]);
  };
  const quantised = (t: string, out: string, p: QParams) => q.set(t, { name: out, scale: p.scale, zp: p.zp });
  const refs = (t: string): [string, string, string] => {
    const v = q.get(t);
    if (!v) throw new Error(`'${t}' is not quantised`);
    return [v.name, scalar(v.scale), zero(v.zp)];
  };
  const p0 = params(input.name!);
  quantised(input.name!, g.node('QuantizeLinear', [input.name!, scalar(p0.scale), zero(p0.zp)], [`${input.name}_quantized`])[0]!, p0);
  const done = new Set<OnnxTypes.INodeProto>();
  for (const n of nodes) {
    if (done.has(n)) continue;
    const ins = n.input ?? [];
    const out = n.output![0]!;
    switch (n.opType) {
      case 'Conv': {
        let w = floats(init.get(ins[1]!)!);
        const wDims = init.get(ins[1]!)!.dims!.map(Number);
        const cout = wDims[0]!;
        let b = ins[2] ? floats(init.get(ins[2])!) : new Float32Array(cout);
        let last = out;
        const bn = sole(last, 'BatchNormalization');
        if (bn) {
          const [s, bb, m, v] = bn.input!.slice(1).map((k) => floats(init.get(k)!));
          const eps = (attrs(bn)['epsilon'] as number | undefined) ?? 1e-5;
          const per = w.length / cout;
          w = Float32Array.from(w, (x, i) => x * s![Math.floor(i / per)]! / Math.sqrt(v![Math.floor(i / per)]! + eps));
          b = Float32Array.from(b, (x, c) => (x - m![c]!) * s![c]! / Math.sqrt(v![c]! + eps) + bb![c]!);
          done.add(bn);
          last = bn.output![0]!;
        }
        const relu = sole(last, 'Relu');
        if (relu) { done.add(relu); last = relu.output![0]!; }
        const [xq, xs, xz] = refs(ins[0]!);
        const sx = q.get(ins[0]!)!.scale;
        const per = w.length / cout;
        const ws = new Float32Array(cout);
        const wq = new Int8Array(w.length);
        const bq = new Int32Array(cout);
        for (let c = 0; c < cout; c++) {
          let m = 0;
          for (let e = 0; e < per; e++) m = Math.max(m, Math.abs(w[c * per + e]!));
          ws[c] = Math.fround(m > 0 ? m / 127 : 1);
          for (let e = 0; e < per; e++) wq[c * per + e] = Math.max(-127, Math.min(127, Math.round(w[c * per + e]! / ws[c]!)));
          bq[c] = Math.round(b[c]! / (sx * ws[c]!));
        }
        const py = params(last);
        const a = attrs(n);
        const y = g.node('QLinearConv', [xq, xs, xz, g.initializer('w*', wDims, wq), g.initializer('ws*', [cout], ws), g.initializer('wz*', [cout], new Int8Array(cout)),
          scalar(py.scale), zero(py.zp), g.initializer('b*', [cout], bq)], [`${last}_quantized`], a)[0]!;
        quantised(last, y, py);
        break;
      }
      case 'Add': {
        let last = out;
        const relu = sole(last, 'Relu');
        if (relu) { done.add(relu); last = relu.output![0]!; }
        const py = params(last);
        const y = g.node('QLinearAdd', [...refs(ins[0]!), ...refs(ins[1]!), scalar(py.scale), zero(py.zp)], [`${last}_quantized`], {}, { domain: 'com.microsoft' })[0]!;
        quantised(last, y, py);
        break;
      }
      case 'GlobalAveragePool': {
        const py = params(out);
        const y = g.node('QLinearGlobalAveragePool', [...refs(ins[0]!), scalar(py.scale), zero(py.zp)], [`${out}_quantized`], { channels_last: 0 }, { domain: 'com.microsoft' })[0]!;
        quantised(out, y, py);
        break;
      }
      case 'MaxPool': case 'Flatten': case 'Identity': {
        // Order-preserving on levels: the same scale and zero point.
        const x = q.get(ins[0]!)!;
        quantised(out, g.node(n.opType!, [x.name], [`${out}_quantized`], attrs(n))[0]!, x);
        break;
      }
      case 'Gemm': {
        const a = attrs(n);
        if (a['transB'] !== 1 || (a['transA'] ?? 0) !== 0) throw new Error('Gemm: only transB = 1');
        const wT = init.get(ins[1]!)!;
        const [nOut, k] = wT.dims!.map(Number) as [number, number];
        const w = floats(wT);
        const b = ins[2] ? floats(init.get(ins[2])!) : new Float32Array(nOut);
        const sx = q.get(ins[0]!)!.scale;
        const ws = new Float32Array(nOut);
        const wq = new Int8Array(w.length);
        const bq = new Int32Array(nOut);
        for (let r = 0; r < nOut; r++) {
          let m = 0;
          for (let e = 0; e < k; e++) m = Math.max(m, Math.abs(w[r * k + e]!));
          ws[r] = Math.fround(m > 0 ? m / 127 : 1);
          for (let e = 0; e < k; e++) wq[r * k + e] = Math.max(-127, Math.min(127, Math.round(w[r * k + e]! / ws[r]!)));
          bq[r] = Math.round(b[r]! / (sx * ws[r]!));
        }
        g.node('QGemm', [...refs(ins[0]!), g.initializer('w*', [nOut, k], wq), g.initializer('ws*', [nOut], ws), g.initializer('wz*', [nOut], new Int8Array(nOut)),
          g.initializer('b*', [nOut], bq)], [out], { alpha: A.float(1), transA: 0, transB: 1 }, { domain: 'com.microsoft' });
        break;
      }
      default:
        throw new Error(`quantizeQOperator: ${n.opType} is not handled`);
    }
  }
  for (const o of src.output ?? []) g.outputs.push(o as OnnxTypes.ValueInfoProto);
  return g.toBytes({ producerName: 'webgpu-xai qoperator-quantize', extraOpsets: { 'com.microsoft': 1 } });
}

/**
 * Calibrated ranges: min and max of every tensor over `batches` (NCHW floats of `dims`), from
 * onnxruntime-node running the float model with every tensor exposed as an output.
 */
export async function calibrateWithOrt(bytes: Uint8Array, batches: readonly Float32Array[], dims: readonly number[]): Promise<Map<string, [number, number]>> {
  const ort = await import('onnxruntime-node');
  const m = decodeModel(bytes);
  const g = m.graph!;
  const names = calibrationTensors(bytes);
  const have = new Set((g.output ?? []).map((o) => o.name));
  for (const t of names.slice(1)) if (!have.has(t)) g.output!.push(makeValueInfo(t, undefined));
  const session = await ort.InferenceSession.create(encodeModel(m), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  const ranges = new Map<string, [number, number]>();
  const note = (t: string, d: ArrayLike<number>) => {
    let [lo, hi] = ranges.get(t) ?? [Infinity, -Infinity];
    for (let i = 0; i < d.length; i++) { const v = d[i]!; if (v < lo) lo = v; if (v > hi) hi = v; }
    ranges.set(t, [lo, hi]);
  };
  for (const x of batches) {
    note(names[0]!, x);
    const res = await session.run({ [names[0]!]: new ort.Tensor('float32', x, [...dims]) });
    for (const t of names.slice(1)) if (res[t]) note(t, res[t]!.data as Float32Array);
  }
  await session.release();
  return ranges;
}
