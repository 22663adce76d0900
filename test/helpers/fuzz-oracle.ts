/**
 * One fuzz case against onnxruntime-node as the oracle: load and run a (mutated) model here and in
 * onnxruntime, and classify what happened. The rule the fuzz test and `npm run fuzz` hold us to:
 * wherever both load and run a file, the outputs agree within 1e-3 of the output's scale (NaN where
 * onnxruntime has NaN); every other difference must be a typed refusal by us.
 */
import { Model } from '../../src/runtime/model.js';
import type { GpuContext } from '../../src/runtime/device.js';
import { XaiError } from '../../src/runtime/errors.js';
import { onnx } from '../../src/runtime/onnx-pb/onnx.js';
import { createOrtSession, ort, randomInput } from './ort.js';

/** The first graph input's declared dims (symbolic or missing ones as 1), read with the generated decoder alone. */
function declaredInput(bytes: Uint8Array): number[] | undefined {
  try {
    const g = onnx.ModelProto.decode(bytes).graph;
    const inits = new Set((g?.initializer ?? []).map((t) => t.name));
    const v = (g?.input ?? []).find((i) => !inits.has(i.name ?? ''));
    const dims = v?.type?.tensorType?.shape?.dim;
    if (!dims) return undefined;
    return dims.map((d) => { const n = Number(d.dimValue ?? 0); return Number.isSafeInteger(n) && n > 0 ? n : 1; });
  } catch {
    return undefined;
  }
}

export interface CaseResult {
  kind: string;
  /**
   * refused: a typed error at load or run; ran: outputs computed; skipped: loaded, input too big
   * to run here; untyped: an error that is not an XaiError (a crash in spirit); hang: no answer in time.
   */
  ours: 'refused' | 'ran' | 'skipped' | 'untyped' | 'hang';
  /** The error class (GraphError, ModelFormatError...) when refused or untyped. */
  errorClass?: string;
  message?: string;
  ort: 'refused' | 'ran' | 'not-tried';
  /** Both ran: whether every output agreed. */
  agreed?: boolean;
  /** Both ran: max |ours - ort| / scale over all outputs. */
  maxRelErr?: number;
  /**
   * Both ran and disagreed, with values beyond 1e30 in either's outputs or in the weights:
   * intermediate results near float32's limit overflow (or not) depending on summation order, so
   * neither answer means much. Reported apart, not counted as agreement.
   */
  overflow?: boolean;
  /**
   * Both ran and disagreed because onnxruntime's outputs hold NaN (the graph computes one, e.g.
   * Sqrt of a negative sum) and ours do not there: WGSL lets a GPU assume no NaN occurs, and
   * lavapipe's arithmetic does drop them. A known limitation, reported apart.
   */
  ortNaN?: boolean;
}

/** Outputs beyond this magnitude are past where float32 arithmetic order still gives one answer. */
export const OVERFLOW_RANGE = 1e30;

/** Whether a float32 initializer holds a value beyond OVERFLOW_RANGE (a corrupted byte, usually). */
function hugeWeight(bytes: Uint8Array): boolean {
  try {
    for (const t of onnx.ModelProto.decode(bytes).graph?.initializer ?? []) {
      if (t.dataType !== 1 || !t.rawData?.length) continue;
      const f = new Float32Array(t.rawData.slice().buffer, 0, t.rawData.length >> 2);
      if (f.some((v) => Math.abs(v) > OVERFLOW_RANGE)) return true;
    }
  } catch { /* undecodable: not this case */ }
  return false;
}

function maxFinite(d: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < d.length; i++) if (Number.isFinite(d[i]!)) m = Math.max(m, Math.abs(d[i]!));
  return m;
}

export const AGREEMENT = 1e-3;

function timeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([p, new Promise<'timeout'>((res) => { t = setTimeout(() => res('timeout'), ms); })]).finally(() => clearTimeout(t));
}

/** max |a - b| / scale with NaN and infinities required to match exactly; Infinity when they do not. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let scale = 0;
  for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i]!)) scale = Math.max(scale, Math.abs(b[i]!));
  scale = Math.max(scale, 1e-6);
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (Number.isNaN(y) || !Number.isFinite(y)) { if (!Object.is(x, y) && !(Number.isNaN(x) && Number.isNaN(y))) return Infinity; continue; }
    const e = Math.abs(x - y) / scale;
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

export interface CaseOptions {
  /** Per-case limit for our load + run (default 30 s). */
  timeoutMs?: number;
  /** Inputs with more elements are loaded but not run (default 2^20). */
  maxElements?: number;
  seed?: number;
}

/** Loads and runs `bytes` here and in onnxruntime-node; never throws. */
export async function runCase(bytes: Uint8Array, kind: string, gpu: GpuContext, opts: CaseOptions = {}): Promise<CaseResult> {
  const res: CaseResult = { kind, ours: 'refused', ort: 'not-tried' };
  let feed: { name: string; dims: number[]; data: Float32Array } | undefined;
  let outputs: Record<string, { shape: readonly number[]; data: ArrayLike<number> }> | undefined;
  const work = (async () => {
    const m = await Model.load(bytes, { gpu, warmup: false, tune: false });
    try {
      const info = m.inputs[0];
      if (!info) throw new Error('loaded a model without inputs');
      const dims = m.inputShapes(1).get(info.name)!;
      const n = dims.reduce((x, y) => x * y, 1);
      if (n > (opts.maxElements ?? 2 ** 20) || m.inputs.length > 1) return 'skipped' as const;
      const x = randomInput(dims, opts.seed ?? 7);
      feed = { name: info.name, dims, data: x.data };
      const r = await m.run({ [info.name]: { dtype: 'float32', shape: dims, data: x.data } });
      outputs = r.outputs;
      return 'ran' as const;
    } finally {
      m.destroy();
    }
  })();
  try {
    const r = await timeout(work, opts.timeoutMs ?? 30_000);
    if (r === 'timeout') { work.catch(() => undefined); res.ours = 'hang'; return res; }
    res.ours = r;
  } catch (e) {
    res.ours = e instanceof XaiError ? 'refused' : 'untyped';
    res.errorClass = (e as Error)?.name ?? typeof e;
    res.message = String((e as Error)?.message ?? e).slice(0, 300);
  }
  // The oracle: does onnxruntime load (and run) it?
  try {
    const session = await createOrtSession(bytes, { graphOptimizationLevel: 'disabled' });
    try {
      if (res.ours !== 'ran' || !feed || !outputs) {
        // Refused (or skipped) here: does onnxruntime at least run it on its declared input?
        const dims = declaredInput(bytes);
        if (!dims || res.ours === 'skipped' || dims.reduce((x, y) => x * y, 1) > (opts.maxElements ?? 2 ** 20)) return res; // loaded, not run: 'not-tried'
        await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', randomInput(dims, opts.seed ?? 7).data, dims) });
        res.ort = 'ran';
        return res;
      }
      const out = await session.run({ [feed.name]: new ort.Tensor('float32', feed.data, feed.dims) });
      res.ort = 'ran';
      let worst = 0;
      for (const [name, t] of Object.entries(out)) {
        const ours = outputs[name];
        const data = Float32Array.from(t.data as ArrayLike<number>, Number);
        const e = !ours || ours.shape.join() !== t.dims.join() ? Infinity : relativeError(ours.data, data);
        if (e > AGREEMENT && ours && Math.max(maxFinite(ours.data), maxFinite(data)) > OVERFLOW_RANGE) res.overflow = true;
        if (e > AGREEMENT && ours && data.some(Number.isNaN) && relativeError(Array.from(ours.data, (v, i) => (Number.isNaN(data[i]!) ? NaN : v)), data) <= AGREEMENT) res.ortNaN = true;
        worst = Math.max(worst, e);
      }
      if (worst > AGREEMENT && hugeWeight(bytes)) res.overflow = true;
      res.maxRelErr = worst;
      res.agreed = worst <= AGREEMENT;
    } finally {
      await session.release();
    }
  } catch {
    res.ort = 'refused';
  }
  return res;
}

/** A case that breaks the rule: not a typed refusal, and not agreement where both ran. */
export function violation(r: CaseResult): string | undefined {
  if (r.ours === 'untyped') return `untyped error ${r.errorClass}: ${r.message}`;
  if (r.ours === 'hang') return 'no answer in time';
  if (r.ours === 'ran' && r.ort === 'ran' && !r.agreed && !r.overflow && !r.ortNaN) return `outputs differ from onnxruntime (max relative error ${r.maxRelErr})`;
  return undefined;
}
