/** Float64 references for IASSA's tests (methods spec 4.2): the dense spatial attention. */

/** A feature level [C, h, w], row-major. */
export interface RefLevel { C: number; h: number; w: number; data: Float64Array }

/** Dense float64 LRPF-SA: F by nearest resizing, A = FᵀF, softmax dim 0 then dim 1, s·A2. */
export function denseAttention(levels: readonly RefLevel[], R: number, sal: ArrayLike<number>, srcH: number, srcW: number) {
  const n = R * R;
  const D = levels.reduce((a, l) => a + l.C, 0);
  const F = new Float64Array(D * n);
  let d0 = 0;
  for (const l of levels) {
    for (let q = 0; q < n; q++) {
      const y = Math.floor((Math.floor(q / R) * l.h) / R), x = Math.floor(((q % R) * l.w) / R);
      for (let c = 0; c < l.C; c++) F[(d0 + c) * n + q] = l.data[c * l.h * l.w + y * l.w + x]!;
    }
    d0 += l.C;
  }
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let a = 0;
    for (let d = 0; d < D; d++) a += F[d * n + i]! * F[d * n + j]!;
    A[i * n + j] = a;
  }
  const colMax = new Float64Array(n).fill(-Infinity), colSum = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) colMax[j] = Math.max(colMax[j]!, A[i * n + j]!);
    for (let i = 0; i < n; i++) colSum[j]! += Math.exp(A[i * n + j]! - colMax[j]!);
  }
  const A1 = A.map((a, k) => Math.exp(a - colMax[k % n]!) / colSum[k % n]!);
  const rowSum = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) rowSum[i]! += Math.exp(A1[i * n + j]!);
  const A2 = A1.map((a, k) => Math.exp(a) / rowSum[Math.floor(k / n)]!);
  const s = Float64Array.from({ length: n }, (_, q) => sal[Math.floor((Math.floor(q / R) * srcH) / R) * srcW + Math.floor(((q % R) * srcW) / R)]!);
  const att = new Float64Array(n);
  for (let j = 0; j < n; j++) for (let i = 0; i < n; i++) att[j]! += s[i]! * A2[i * n + j]!;
  return { A, colMax, colSum, rowSum, att };
}
