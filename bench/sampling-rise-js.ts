/**
 * RISE in plain JavaScript around someone else's forward pass (the onnxruntime-web peer of
 * bench/sampling.ts): the same masks as webgpu-xai's GPU generator (src/kernels/rise-masks.ts),
 * ported from the float64 reference `refMask` of test/xai/rise.test.ts, the masked input
 * x ⊙ M (normalised space, baseline 0), the score Ψ_c read from each output row, and the
 * score-weighted accumulation S = (1/(N·p)) Σ_i Ψ_c(x ⊙ M_i) · M_i, then spec 0.3 min-max.
 * Only the forward passes leave JavaScript.
 */
import { minMaxInPlace, spearman } from './xai-sise-js.js';

export { spearman };

/** PCG-style u32 hash (the generator's, as in the test's float64 reference). */
export function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

export interface RiseGeometry { height: number; width: number; gridSize: number; probability: number; seed: number }

/**
 * Mask generator: mask i of the seeded sequence, as scikit-image would make it from the hashed grid
 * and shifts (bilinear up-sampling to ((s+1)·C)² with mirrored edge taps, crop at offset (dy, dx)).
 * Arithmetic in float64 (JavaScript numbers); the result is stored as float32, as the model takes it.
 * The interpolation is done per row (blend the two grid rows, then the two columns): algebraically
 * the reference's formula, equal to it up to float64 rounding.
 */
export class RiseMaskGenerator {
  private readonly slotHash: Uint32Array;
  private readonly grid: Float64Array;
  private readonly row: Float64Array;
  private readonly axA: Int32Array; private readonly axB: Int32Array; private readonly axT: Float64Array;
  private readonly thr: number;
  private readonly cH: number; private readonly cW: number;
  private readonly seedHash: number;

  constructor(readonly geo: RiseGeometry) {
    const { height: H, width: W, gridSize: s, probability: p } = geo;
    this.slotHash = Uint32Array.from({ length: s * s + 2 }, (_, j) => pcg(j));
    this.grid = new Float64Array(s * s);
    this.row = new Float64Array(s);
    this.axA = new Int32Array(W); this.axB = new Int32Array(W); this.axT = new Float64Array(W);
    this.thr = Math.floor(p * 2 ** 24);
    this.cH = Math.ceil(H / s); this.cW = Math.ceil(W / s);
    this.seedHash = pcg(geo.seed);
  }

  private mirror(q: number): number {
    const s = this.geo.gridSize;
    return s === 1 ? 0 : q < 0 ? -q : q > s - 1 ? 2 * (s - 1) - q : q;
  }

  /** Writes mask i into out[off .. off + H·W). */
  mask(i: number, out: Float32Array, off = 0): void {
    const { height: H, width: W, gridSize: s } = this.geo;
    const k = pcg((this.seedHash + i) >>> 0);
    const draw = (slot: number) => pcg((k ^ this.slotHash[slot]!) >>> 0);
    const grid = this.grid;
    for (let j = 0; j < s * s; j++) grid[j] = (draw(2 + j) >>> 8) < this.thr ? 1 : 0;
    const dy = draw(0) % this.cH, dx = draw(1) % this.cW;
    const upH = (s + 1) * this.cH, upW = (s + 1) * this.cW;
    for (let x = 0; x < W; x++) {
      const src = ((x + dx + 0.5) * s) / upW - 0.5;
      const f = Math.floor(src);
      this.axA[x] = this.mirror(f); this.axB[x] = this.mirror(f + 1); this.axT[x] = src - f;
    }
    const row = this.row;
    for (let y = 0; y < H; y++) {
      const src = ((y + dy + 0.5) * s) / upH - 0.5;
      const f = Math.floor(src);
      const a = this.mirror(f) * s, b = this.mirror(f + 1) * s, t = src - f;
      for (let c = 0; c < s; c++) row[c] = (1 - t) * grid[a + c]! + t * grid[b + c]!;
      const o = off + y * W;
      for (let x = 0; x < W; x++) {
        const tx = this.axT[x]!;
        out[o + x] = (1 - tx) * row[this.axA[x]!]! + tx * row[this.axB[x]!]!;
      }
    }
  }
}

/** Ψ_c of one output row: the softmax probability (or the row itself when the model ends in Softmax). */
export function softmaxScore(out: Float32Array, rowOff: number, K: number, c: number, endsInSoftmax: boolean): number {
  if (endsInSoftmax) return out[rowOff + c]!;
  let mx = -Infinity;
  for (let k = 0; k < K; k++) mx = Math.max(mx, out[rowOff + k]!);
  let den = 0;
  for (let k = 0; k < K; k++) den += Math.exp(out[rowOff + k]! - mx);
  return Math.exp(out[rowOff + c]! - mx) / den;
}

export interface JsRiseResult {
  /** Min-max normalised saliency [H·W]. */
  map: Float32Array;
  totalMs: number;
  /** Time inside the forward callback (ort-web: upload, run, read-back). */
  forwardMs: number;
  /** Mask generation, masking, score reading and accumulation, normalisation. */
  maskMs: number; maskingMs: number; accumulateMs: number; normaliseMs: number;
  batches: number;
}

/**
 * RISE for class `classIndex` of image x [C, H, W] with N masks in batches of `batch`; the forward
 * pass takes a full [batch, C, H, W] input (a last partial batch is padded with stale rows, whose
 * scores are ignored) and returns output 0 [batch, K].
 */
export async function riseJs(
  forward: (batch: number, input: Float32Array) => Promise<Float32Array>,
  x: Float32Array, chw: readonly [number, number, number], o: { geo: RiseGeometry; masks: number; batch: number; classIndex: number; endsInSoftmax: boolean },
  onBatch?: (done: number, total: number) => void,
): Promise<JsRiseResult> {
  const [C, H, W] = chw;
  const P = H * W, B = o.batch, N = o.masks;
  if (o.geo.height !== H || o.geo.width !== W) throw new Error(`mask geometry ${o.geo.height}x${o.geo.width} does not match the input ${H}x${W}`);
  const gen = new RiseMaskGenerator(o.geo);
  const input = new Float32Array(B * C * P);
  const masks = new Float32Array(B * P);
  const S = new Float64Array(P);
  let forwardMs = 0, maskMs = 0, maskingMs = 0, accumulateMs = 0, batches = 0;
  const t0 = performance.now();
  for (let start = 0; start < N; start += B) {
    const n = Math.min(B, N - start);
    let t = performance.now();
    for (let i = 0; i < n; i++) gen.mask(start + i, masks, i * P);
    let u = performance.now(); maskMs += u - t; t = u;
    for (let i = 0; i < n; i++) {
      const m = masks.subarray(i * P, (i + 1) * P);
      for (let c = 0; c < C; c++) {
        const dst = (i * C + c) * P, src = c * P;
        for (let p = 0; p < P; p++) input[dst + p] = x[src + p]! * m[p]!;
      }
    }
    u = performance.now(); maskingMs += u - t; t = u;
    const out = await forward(B, input);
    u = performance.now(); forwardMs += u - t; t = u;
    batches++;
    const K = out.length / B;
    for (let i = 0; i < n; i++) {
      const psi = softmaxScore(out, i * K, K, o.classIndex, o.endsInSoftmax);
      const m = masks.subarray(i * P, (i + 1) * P);
      for (let p = 0; p < P; p++) S[p]! += psi * m[p]!;
    }
    accumulateMs += performance.now() - t;
    onBatch?.(start + n, N);
  }
  const t = performance.now();
  const scale = 1 / (N * o.geo.probability);
  const map = new Float32Array(P);
  for (let p = 0; p < P; p++) map[p] = S[p]! * scale;
  minMaxInPlace(map);
  const end = performance.now();
  return { map, totalMs: end - t0, forwardMs, maskMs, maskingMs, accumulateMs, normaliseMs: end - t, batches };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
