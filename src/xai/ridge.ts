/**
 * Weighted ridge regression as LIME uses it (scikit-learn `Ridge(alpha, fit_intercept=True)` with
 * `sample_weight`), its weighted R² (`Ridge.score`), and LIME's feature selection (lime_base.py).
 * Float64 on the host: the design is N × K with K ≈ tens to a few hundred superpixels, so the normal
 * equations cost N·K² + K³/3, milliseconds next to the N forward passes.
 *
 * Intercept: as scikit-learn, X and y are centred by their weighted means, the penalised system is
 * solved on the centred data, and intercept = ȳ_w − x̄_wᵀβ. This equals solving the system with an
 * intercept column whose coefficient is not penalised.
 */

/** A row-major design matrix X [rows, cols]. */
export interface Design { data: ArrayLike<number>; rows: number; cols: number }

/** A fitted linear model ŷ = intercept + xᵀ·coef. */
export interface RidgeFit { coef: Float64Array; intercept: number }

/** Column subset `cols` of X (all columns when omitted) as a dense float64 matrix. */
function subset(X: Design, cols?: readonly number[]): { A: Float64Array; d: number } {
  if (!cols) return { A: Float64Array.from(X.data), d: X.cols };
  const d = cols.length;
  const A = new Float64Array(X.rows * d);
  for (let i = 0; i < X.rows; i++) for (let k = 0; k < d; k++) A[i * d + k] = X.data[i * X.cols + cols[k]!]!;
  return { A, d };
}

/**
 * Solves the symmetric positive (semi-)definite system M·x = b in place by Cholesky. A pivot that
 * is not positive (a singular design, e.g. alpha = 0 with a constant column) gets a tiny ridge
 * relative to the diagonal, so the fit degrades to the minimum-penalty solution instead of NaN.
 */
export function choleskySolve(M: Float64Array, b: Float64Array, d: number): Float64Array {
  let scale = 0;
  for (let k = 0; k < d; k++) scale = Math.max(scale, Math.abs(M[k * d + k]!));
  const jitter = (scale || 1) * 1e-12;
  const L = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let s = M[j * d + j]!;
    for (let k = 0; k < j; k++) s -= L[j * d + k]! * L[j * d + k]!;
    const piv = s > jitter ? s : s + jitter > 0 ? s + jitter : jitter;
    const ljj = Math.sqrt(piv);
    L[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let t = M[i * d + j]!;
      for (let k = 0; k < j; k++) t -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = t / ljj;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < d; i++) {
    let t = x[i]!;
    for (let k = 0; k < i; k++) t -= L[i * d + k]! * x[k]!;
    x[i] = t / L[i * d + i]!;
  }
  for (let i = d - 1; i >= 0; i--) {
    let t = x[i]!;
    for (let k = i + 1; k < d; k++) t -= L[k * d + i]! * x[k]!;
    x[i] = t / L[i * d + i]!;
  }
  return x;
}

/**
 * Weighted ridge with an unpenalised intercept: minimises Σ w_i (y_i − b − x_iᵀβ)² + α‖β‖².
 * `cols` restricts the fit to those columns (coef has one entry per listed column).
 */
export function ridgeFit(X: Design, y: ArrayLike<number>, w: ArrayLike<number>, alpha: number, cols?: readonly number[]): RidgeFit {
  const { A, d } = subset(X, cols);
  const n = X.rows;
  let sw = 0, ym = 0;
  const xm = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const wi = w[i]!;
    sw += wi; ym += wi * y[i]!;
    for (let k = 0; k < d; k++) xm[k]! += wi * A[i * d + k]!;
  }
  if (!(sw > 0)) throw new RangeError('ridge: the sample weights sum to zero');
  ym /= sw;
  for (let k = 0; k < d; k++) xm[k]! /= sw;
  const M = new Float64Array(d * d), rhs = new Float64Array(d);
  const xc = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const wi = w[i]!;
    if (wi === 0) continue;
    for (let k = 0; k < d; k++) xc[k] = A[i * d + k]! - xm[k]!;
    const yc = y[i]! - ym;
    for (let k = 0; k < d; k++) {
      const wk = wi * xc[k]!;
      rhs[k]! += wk * yc;
      for (let l = 0; l <= k; l++) M[k * d + l]! += wk * xc[l]!;
    }
  }
  for (let k = 0; k < d; k++) {
    M[k * d + k]! += alpha;
    for (let l = 0; l < k; l++) M[l * d + k] = M[k * d + l]!;
  }
  const coef = d ? choleskySolve(M, rhs, d) : new Float64Array(0);
  let intercept = ym;
  for (let k = 0; k < d; k++) intercept -= xm[k]! * coef[k]!;
  return { coef, intercept };
}

/** ŷ for row i of X under a fit on columns `cols` (all when omitted). */
export function ridgePredict(X: Design, fit: RidgeFit, i: number, cols?: readonly number[]): number {
  let v = fit.intercept;
  for (let k = 0; k < fit.coef.length; k++) v += fit.coef[k]! * X.data[i * X.cols + (cols ? cols[k]! : k)]!;
  return v;
}

/**
 * Weighted coefficient of determination, scikit-learn's `r2_score(y, ŷ, sample_weight=w)`:
 * 1 − Σw(y − ŷ)² / Σw(y − ȳ_w)²; a constant target scores 1 when fitted exactly, else 0.
 */
export function ridgeScore(X: Design, y: ArrayLike<number>, w: ArrayLike<number>, fit: RidgeFit, cols?: readonly number[]): number {
  let sw = 0, ym = 0;
  for (let i = 0; i < X.rows; i++) { sw += w[i]!; ym += w[i]! * y[i]!; }
  ym /= sw;
  let num = 0, den = 0;
  for (let i = 0; i < X.rows; i++) {
    const r = y[i]! - ridgePredict(X, fit, i, cols), t = y[i]! - ym;
    num += w[i]! * r * r; den += w[i]! * t * t;
  }
  if (den === 0) return num === 0 ? 1 : 0;
  return 1 - num / den;
}

/**
 * LIME's feature selection (lime_base.LimeBase.feature_selection): 'none' (all), 'highest_weights'
 * (the largest |coef · x₀| of a Ridge(α = 0.01) fit on all features; x₀ = the first row),
 * 'forward_selection' (greedily add the feature that most raises the weighted R² of an unpenalised
 * fit), or 'auto' (forward selection when at most 6 features are wanted, else highest weights).
 * LIME's 'lasso_path' is not offered.
 */
export type FeatureSelection = 'auto' | 'none' | 'highest_weights' | 'forward_selection';

/** The columns LIME's `feature_selection` keeps, in its order. */
export function selectFeatures(X: Design, y: ArrayLike<number>, w: ArrayLike<number>, numFeatures: number, method: FeatureSelection): number[] {
  const all = Array.from({ length: X.cols }, (_, k) => k);
  switch (method) {
    case 'none': return all;
    case 'auto': return selectFeatures(X, y, w, numFeatures, numFeatures <= 6 ? 'forward_selection' : 'highest_weights');
    case 'highest_weights': {
      const { coef } = ridgeFit(X, y, w, 0.01);
      const weighted = all.map((k) => coef[k]! * X.data[k]!);
      // A stable sort by |weight|, descending, as Python's sorted(..., reverse=True).
      return all.sort((a, b) => Math.abs(weighted[b]!) - Math.abs(weighted[a]!) || a - b).slice(0, numFeatures);
    }
    case 'forward_selection': {
      const used: number[] = [];
      for (let round = 0; round < Math.min(numFeatures, X.cols); round++) {
        let best = 0, max = -100000000;
        for (let f = 0; f < X.cols; f++) {
          if (used.includes(f)) continue;
          const cols = [...used, f];
          const s = ridgeScore(X, y, w, ridgeFit(X, y, w, 0, cols), cols);
          if (s > max) { max = s; best = f; }
        }
        used.push(best);
      }
      return used;
    }
  }
}
