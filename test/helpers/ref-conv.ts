/**
 * Float64 CPU reference of ONNX Conv shared by the forward and gradient tests (written from the
 * ONNX definition, not from the kernels).
 */
import type { AttrValue } from '../../src/runtime/graph.js';

/** A tensor as the reference reads it (HostTensor fits; so does a float64 perturbed copy). */
export interface Tensorish { shape: readonly number[]; data: ArrayLike<number> }

/** One convolution test case: shapes and ONNX attributes. */
export interface ConvCase {
  name: string; x: number[]; w: number[]; bias?: boolean;
  group?: number; strides?: number[]; pads?: number[]; dilations?: number[]; autoPad?: string;
}

/**
 * Float64 direct convolution from the ONNX definition, N-d spatial flattened to 1-D or 2-D by hand:
 * out[n, m, o...] = b[m] + sum_{c in group, k...} x[n, c, o*s - pad_begin + k*d] * w[m, c, k...].
 */
export function convRef(c: ConvCase, x: Tensorish, w: Tensorish, b?: Tensorish): { shape: number[]; data: number[] } {
  const sp = x.shape.slice(2); const ks = w.shape.slice(2); const r = sp.length;
  const s = c.strides ?? sp.map(() => 1); const d = c.dilations ?? sp.map(() => 1);
  let pb: number[]; let pe: number[];
  const ap = c.autoPad ?? 'NOTSET';
  if (ap === 'NOTSET') { const p = c.pads ?? new Array(2 * r).fill(0); pb = p.slice(0, r); pe = p.slice(r); }
  else if (ap === 'VALID') { pb = sp.map(() => 0); pe = sp.map(() => 0); }
  else {
    // SAME_*: output = ceil(in / stride); the odd extra pad goes at the end (UPPER) or start (LOWER).
    const tot = sp.map((n, i) => Math.max(0, (Math.ceil(n / s[i]!) - 1) * s[i]! + (ks[i]! - 1) * d[i]! + 1 - n));
    pb = tot.map((t) => (ap === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pe = tot.map((t, i) => t - pb[i]!);
  }
  const out = sp.map((n, i) => Math.floor((n + pb[i]! + pe[i]! - (ks[i]! - 1) * d[i]! - 1) / s[i]!) + 1);
  const [N, C] = x.shape as [number, number]; const M = w.shape[0]!; const G = c.group ?? 1;
  const Cg = C / G; const Mg = M / G;
  const H = r === 2 ? sp[0]! : 1; const W = sp[r - 1]!;
  const KH = r === 2 ? ks[0]! : 1; const KW = ks[r - 1]!;
  const OH = r === 2 ? out[0]! : 1; const OW = out[r - 1]!;
  const sh = r === 2 ? s[0]! : 1; const sw = s[r - 1]!; const dh = r === 2 ? d[0]! : 1; const dw = d[r - 1]!;
  const ph = r === 2 ? pb[0]! : 0; const pw = pb[r - 1]!;
  const data: number[] = [];
  for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) {
    const g = Math.floor(m / Mg);
    for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
      let acc = b ? b.data[m]! : 0;
      for (let ci = 0; ci < Cg; ci++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
        const ih = oh * sh - ph + kh * dh; const iw = ow * sw - pw + kw * dw;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        const xc = g * Cg + ci;
        acc += x.data[((n * C + xc) * H + ih) * W + iw]! * w.data[((m * Cg + ci) * KH + kh) * KW + kw]!;
      }
      data.push(acc);
    }
  }
  return { shape: [N, M, ...out], data };
}

export function attrsOf(c: ConvCase): Record<string, AttrValue> {
  const a: Record<string, AttrValue> = {};
  if (c.group) a['group'] = c.group;
  if (c.strides) a['strides'] = c.strides;
  if (c.pads) a['pads'] = c.pads;
  if (c.dilations) a['dilations'] = c.dilations;
  if (c.autoPad) a['auto_pad'] = c.autoPad;
  a['kernel_shape'] = c.w.slice(2);
  return a;
}

