/**
 * Float64 CPU references of ONNX Gemm and MatMul shared by the forward and gradient tests.
 */

/** A tensor as the references read it (HostTensor fits; so does a float64 perturbed copy). */
export interface Tensorish { shape: readonly number[]; data: ArrayLike<number> }

/** Float64 reference of Gemm, written from the ONNX definition. */
export function gemmRef(a: Tensorish, b: Tensorish, c: Tensorish | undefined, tA: boolean, tB: boolean, alpha: number, beta: number): number[] {
  const M = tA ? a.shape[1]! : a.shape[0]!; const K = tA ? a.shape[0]! : a.shape[1]!;
  const N = tB ? b.shape[0]! : b.shape[1]!;
  const A = (m: number, k: number) => (tA ? a.data[k * M + m]! : a.data[m * K + k]!);
  const B = (k: number, n: number) => (tB ? b.data[n * K + k]! : b.data[k * N + n]!);
  const C = (m: number, n: number) => {
    if (!c) return 0;
    const s = c.shape;
    if (s.length === 0) return c.data[0]!;
    const cn = s[s.length - 1]!; const cm = s.length === 2 ? s[0]! : 1;
    return c.data[(cm === 1 ? 0 : m) * cn + (cn === 1 ? 0 : n)]!;
  };
  const out: number[] = [];
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += A(m, k) * B(k, n);
    out.push(alpha * s + beta * C(m, n));
  }
  return out;
}

/** Float64 reference of numpy matmul for rank >= 1 operands. */
export function matmulRef(a: Tensorish, b: Tensorish): number[] {
  const as = a.shape.length === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.shape.length === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const M = as[as.length - 2]!; const K = as[as.length - 1]!; const N = bs[bs.length - 1]!;
  const ab = as.slice(0, -2); const bb = bs.slice(0, -2);
  const r = Math.max(ab.length, bb.length);
  const pa = [...Array(r - ab.length).fill(1), ...ab] as number[];
  const pb = [...Array(r - bb.length).fill(1), ...bb] as number[];
  const ob = pa.map((x, i) => Math.max(x, pb[i]!));
  const total = ob.reduce((x, y) => x * y, 1);
  const out: number[] = [];
  for (let z = 0; z < total; z++) {
    const idx: number[] = []; let t = z;
    for (let i = r - 1; i >= 0; i--) { idx[i] = t % ob[i]!; t = Math.floor(t / ob[i]!); }
    let ao = 0; let bo = 0;
    for (let i = 0; i < r; i++) { ao = ao * pa[i]! + (pa[i] === 1 ? 0 : idx[i]!); bo = bo * pb[i]! + (pb[i] === 1 ? 0 : idx[i]!); }
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a.data[ao * M * K + m * K + k]! * b.data[bo * K * N + k * N + n]!;
      out.push(s);
    }
  }
  return out;
}
