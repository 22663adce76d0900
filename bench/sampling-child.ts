/**
 * The child-process side of bench/sampling.ts: 'ours' (RISE, IASSA, mask optimisation, E-LIME and
 * LIME through webgpu-xai on every model, forward timing at the explanation batch, and the RISE
 * hand-off: class, image tensor, our map and mask settings) and 'ort-web' (the same RISE, same masks,
 * with the forward passes on onnxruntime-web's WebGPU EP and everything else in JavaScript,
 * bench/sampling-rise-js.ts). Records go to a JSON-lines file as they exist.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeGpu } from '../src/node.js';
import { Model } from '../src/runtime/model.js';
import { seedOf } from '../src/runtime/reverse.js';
import { METHODS, type MethodOptions } from '../src/xai/explain.js';
import { modelInputToRgb, preprocessImage, PRESETS, guessPreset } from '../src/xai/preprocess.js';
import type { Explanation } from '../src/xai/explanation.js';
import type { Progress } from '../src/xai/session.js';
import { readImage } from '../src/image-io.js';
import { maxAbsDiff, riseJs, spearman } from './sampling-rise-js.js';
import type { ModelSpec } from './types.js';
import type { SamplingMethod } from './sampling.js';


export interface SamplingSettings {
  batch: number;
  methods: SamplingMethod[];
  /** Options per method (batchSize is added from `batch`). */
  opts: Partial<Record<SamplingMethod, Record<string, unknown>>>;
  /** The reduced warm-up run per method (same batch, plans and kernels; fewer passes). */
  warm: Partial<Record<SamplingMethod, Record<string, unknown>>>;
  reps: number;
  peerReps: number;
  cellSeconds: number;
  image: string;
  /** Folder for the RISE hand-off from 'ours' to 'ort-web'. */
  handoff: string;
}

export interface RiseHandoff {
  model: string; chw: [number, number, number]; classIndex: number; endsInSoftmax: boolean; scoreMode: string;
  masks: number; gridSize: number; probability: number; seed: number; imageFile: string; mapFile: string;
}

const msg = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0]!.slice(0, 200);
const log = (s: string) => process.stderr.write(`${s}\n`);
export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2; };
const writeF32 = (path: string, a: Float32Array) => writeFileSync(path, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
const readF32 = (path: string) => { const b = readFileSync(path); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };
const sec = (ms: number) => (ms / 1000).toFixed(ms < 10000 ? 2 : 1);

/** Forward passes of an explanation that were not masked: the classification (and IASSA's feature pass). */
export const unmaskedPasses = (method: string) => (method === 'iassa' ? 2 : 1);

/** The phases that hold the masked forward passes of each method (host work inside them included). */
export const PASS_PHASES: Record<SamplingMethod, string[]> = {
  rise: ['masked passes'], iassa: ['masked passes'], 'mask-opt': ['optimisation'], lime: ['masked passes'], 'e-lime': ['evolution', 'removal drops'],
};

/** Method-specific facts worth a column (counts, rounds, early stop...). */
function extrasOf(method: SamplingMethod, e: Explanation): Record<string, unknown> {
  const x = e as unknown as Record<string, unknown>;
  switch (method) {
    case 'rise': return { masks: e.params['masks'] };
    case 'iassa': return { rounds: x['rounds'], attentionResolution: e.params['attentionResolution'] };
    case 'mask-opt': {
      const obj = x['objective'] as Float32Array | undefined;
      return { pairs: e.params['pairs'], iterations: e.params['iterations'], objectiveFirst: obj?.[0], objectiveLast: obj?.[obj.length - 1] };
    }
    case 'lime': return { segmentCount: x['segmentCount'], r2: x['r2'], samples: e.params['samples'] };
    case 'e-lime': return { segmentCount: x['segmentCount'], generations: x['generations'], stoppedEarly: x['stoppedEarly'], cacheHits: x['cacheHits'],
      gaHostMs: x['gaHostMs'], populationSize: e.params['populationSize'], bestScore: x['bestScore'] };
  }
}

export async function runSamplingChild(peer: 'ours' | 'ort-web', models: ModelSpec[], outPath: string, s: SamplingSettings): Promise<void> {
  const put = (r: object) => appendFileSync(outPath, `${JSON.stringify(r)}\n`);
  if (peer === 'ours') await runOurs(models, s, put);
  else await runOrtWeb(models, s, put);
}

/** A progress callback that prints at most one line every `everyS` seconds. */
function progressLogger(prefix: string, everyS = 15): (p: Progress) => void {
  let last = performance.now();
  return (p) => {
    const now = performance.now();
    if (now - last < everyS * 1000) return;
    last = now;
    log(`${prefix}: ${p.phase} ${p.done}/${p.total}`);
  };
}

async function runOurs(models: ModelSpec[], s: SamplingSettings, put: (r: object) => void): Promise<void> {
  const gpu = await createNodeGpu();
  put({ type: 'device', peer: 'ours', label: 'webgpu-xai', device: gpu.adapterName });
  log(`[ours] ${gpu.adapterName}`);
  const img = readImage(s.image);
  try {
    for (const spec of models) {
      let model: Model | undefined;
      try {
        const t0 = performance.now();
        model = await Model.load(new Uint8Array(readFileSync(spec.file)), { gpu });
        const loadMs = performance.now() - t0;
        const input = model.inputs[0]!;
        const preset = guessPreset(input.name, input.shape);
        const x = preprocessImage(img, PRESETS[preset]).tensor;
        // What explainImage hands the superpixel methods: the RGB view of the model input.
        const segmentationImage = modelInputToRgb(x, PRESETS[preset]);
        const endsInSoftmax = model.graph.nodes.some((n) => n.opType === 'Softmax' && n.outputs[0] === model!.outputs[0]!.name);
        put({ type: 'model', peer: 'ours', model: spec.name, label: spec.label, loadMs, preset, endsInSoftmax });
        log(`[ours] ${spec.name}: loaded in ${sec(loadMs)} s, preset ${preset}`);

        // Forward time at the explanation batch, with the plan the methods use (same keep: the cached plan).
        try {
          const shapes = new Map([[spec.inputName, [s.batch, ...spec.chw]]]);
          const plan = await model.planFor(shapes, [seedOf(model.specialize(shapes, new Set()), 'softmax').tensor]);
          const inT = plan.tensor(spec.inputName);
          const data = new Float32Array(inT.size / 4);
          for (let i = 0; i < data.length; i++) data[i] = x[i % x.length]!;
          gpu.device.queue.writeBuffer(inT.buffer, inT.offset ?? 0, data);
          const runQ = async (q: number) => {
            const t = performance.now();
            for (let i = 0; i < q; i++) { const e = gpu.device.createCommandEncoder(); plan.encode(e); gpu.device.queue.submit([e.finish()]); }
            await gpu.device.queue.onSubmittedWorkDone();
            return (performance.now() - t) / q;
          };
          const probe = await runQ(1);
          const q = Math.max(1, Math.min(16, Math.ceil(500 / Math.max(probe, 1e-3))));
          const times: number[] = [];
          const start = performance.now();
          while (times.length < 5) {
            times.push(await runQ(q));
            if ((performance.now() - start) / 1000 + (q * times[times.length - 1]!) / 1000 > s.cellSeconds / 3) break;
          }
          const ms = median(times);
          put({ type: 'forward', peer: 'ours', model: spec.name, batch: s.batch, batchMs: ms, perImageMs: ms / s.batch, reps: times.length, perRep: q });
          log(`[ours] ${spec.name} forward b${s.batch}: ${ms.toFixed(1)} ms/batch (${((1000 * s.batch) / ms).toFixed(2)} img/s, ${times.length}x${q} batches)`);
        } catch (e) {
          put({ type: 'failed', peer: 'ours', model: spec.name, what: 'forward', reason: msg(e) });
          log(`[ours] ${spec.name} forward timing failed: ${msg(e)}`);
        }

        for (const method of s.methods) {
          const run = METHODS[method]!;
          const base: MethodOptions = { batchSize: s.batch, segmentationImage };
          const opts: MethodOptions = { ...base, ...(s.opts[method] ?? {}) };
          const warmOpts: MethodOptions = { ...opts, ...(s.warm[method] ?? {}) };
          try {
            const tw = performance.now();
            const w = await run(model, x, { ...warmOpts, onProgress: progressLogger(`[ours] ${spec.name} ${method} warm-up`) });
            const warmupMs = performance.now() - tw;
            log(`[ours] ${spec.name} ${method}: warm-up ${sec(warmupMs)} s (${w.forwardPasses} forward passes), class ${w.classIndex}`);
            const times: number[] = []; const runs: Explanation[] = [];
            const start = performance.now();
            while (times.length < s.reps) {
              const t = performance.now();
              const e = await run(model, x, { ...opts, onProgress: progressLogger(`[ours] ${spec.name} ${method}`) });
              times.push(performance.now() - t); runs.push(e);
              log(`[ours] ${spec.name} ${method}: run ${times.length} ${sec(times[times.length - 1]!)} s, ${e.forwardPasses} forward passes`);
              if ((performance.now() - start) / 1000 + times[times.length - 1]! / 1000 > s.cellSeconds) break;
            }
            const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
            const mid = runs[order[Math.floor((order.length - 1) / 2)]![1]]!;
            const masked = mid.forwardPasses - unmaskedPasses(method);
            const passMs = PASS_PHASES[method].reduce((a, k) => a + (mid.timings[k] ?? 0), 0);
            const extras = extrasOf(method, mid);
            put({ type: 'cell', peer: 'ours', model: spec.name, method, status: 'ok', times, medianMs: median(times), warmupMs, warmupPasses: w.forwardPasses,
              classIndex: mid.classIndex, score: mid.score, forwardPasses: mid.forwardPasses, masked, passMs, timings: mid.timings, extras });
            log(`[ours] ${spec.name} ${method}: median ${sec(median(times))} s over ${times.length}, ${masked} masked passes (${((1000 * masked) / passMs).toFixed(2)}/s); phases ${Object.entries(mid.timings).map(([k, v]) => `${k} ${sec(v)}`).join(', ')}`);
            if (method === 'rise') {
              const mapFile = join(s.handoff, `${spec.name}.rise-map.f32`); writeF32(mapFile, mid.map.data);
              const imageFile = join(s.handoff, `${spec.name}.image.f32`); writeF32(imageFile, x);
              const p = mid.params;
              const h: RiseHandoff = { model: spec.name, chw: spec.chw, classIndex: mid.classIndex, endsInSoftmax, scoreMode: mid.scoreMode,
                masks: p['masks'] as number, gridSize: p['gridSize'] as number, probability: p['probability'] as number, seed: p['seed'] as number, imageFile, mapFile };
              writeFileSync(join(s.handoff, `${spec.name}.rise.json`), JSON.stringify(h));
            }
          } catch (e) {
            put({ type: 'cell', peer: 'ours', model: spec.name, method, status: 'failed', reason: msg(e) });
            log(`[ours] ${spec.name} ${method} failed: ${msg(e)}`);
          }
        }
      } catch (e) {
        put({ type: 'failed', peer: 'ours', model: spec.name, reason: msg(e) });
        log(`[ours] ${spec.name} failed: ${msg(e)}`);
      } finally {
        model?.destroy();
      }
    }
  } finally {
    gpu.destroy();
  }
}

async function runOrtWeb(models: ModelSpec[], s: SamplingSettings, put: (r: object) => void): Promise<void> {
  const { createOrtWeb } = await import('./peers/ort-web.js');
  let peer;
  try { peer = await createOrtWeb(); } catch (e) {
    put({ type: 'failed', peer: 'ort-web', reason: msg(e) }); log(`[ort-web] failed to start: ${msg(e)}`); return;
  }
  put({ type: 'device', peer: 'ort-web', label: peer.label, device: peer.device, initMs: peer.initMs });
  log(`[ort-web] ${peer.label} on ${peer.device} (init ${sec(peer.initMs ?? 0)} s)`);
  try {
    for (const spec of models) {
      let h: RiseHandoff;
      try { h = JSON.parse(readFileSync(join(s.handoff, `${spec.name}.rise.json`), 'utf8')) as RiseHandoff; } catch {
        put({ type: 'peer-rise', model: spec.name, status: 'failed', reason: 'no RISE hand-off from webgpu-xai (its RISE failed or was not run)' });
        continue;
      }
      let session;
      try {
        if (h.scoreMode !== 'softmax') throw new Error(`the peer reads softmax scores; our RISE used '${h.scoreMode}'`);
        const B = s.batch;
        const [C, H, W] = spec.chw; const P = H * W;
        const t0 = performance.now();
        session = await peer.load(spec, new Uint8Array(readFileSync(spec.file)));
        const loadMs = performance.now() - t0;
        const x = readF32(h.imageFile);
        const input = new Float32Array(B * C * P);
        for (let i = 0; i < input.length; i++) input[i] = x[i % x.length]!;
        const t1 = performance.now();
        const first = await session.run(B, input);
        const firstRunMs = performance.now() - t1;
        const K = first.length / B;
        let top1 = 0; for (let k = 1; k < K; k++) if (first[k]! > first[top1]!) top1 = k;
        log(`[ort-web] ${spec.name}: load ${sec(loadMs)} s, first run at batch ${B} ${sec(firstRunMs)} s, top-1 ${top1} (ours ${h.classIndex})`);
        // Forward time at the same batch (upload + read-back included, as in every run below).
        const ft: number[] = [];
        const fs = performance.now();
        while (ft.length < 5) {
          const t = performance.now(); await session.run(B, input); ft.push(performance.now() - t);
          if ((performance.now() - fs) / 1000 + ft[ft.length - 1]! / 1000 > s.cellSeconds / 3) break;
        }
        const batchMs = median(ft);
        put({ type: 'forward', peer: 'ort-web', model: spec.name, batch: B, batchMs, perImageMs: batchMs / B, reps: ft.length, loadMs, firstRunMs, top1 });
        log(`[ort-web] ${spec.name} forward b${B}: ${batchMs.toFixed(1)} ms/batch (${((1000 * B) / batchMs).toFixed(2)} img/s)`);

        const ours = readF32(h.mapFile);
        const sess = session;
        const results = [];
        const start = performance.now();
        while (results.length < s.peerReps) {
          const r = await riseJs((b, inp) => sess.run(b, inp), x, spec.chw,
            { geo: { height: H, width: W, gridSize: h.gridSize, probability: h.probability, seed: h.seed }, masks: h.masks, batch: B, classIndex: h.classIndex, endsInSoftmax: h.endsInSoftmax },
            ((p) => (done: number, total: number) => p({ phase: 'masked forward passes', done, total }))(progressLogger(`[ort-web] ${spec.name} rise`)));
          results.push(r);
          log(`[ort-web] ${spec.name} RISE: run ${results.length} ${sec(r.totalMs)} s (forward ${sec(r.forwardMs)} s)`);
          if ((performance.now() - start) / 1000 + r.totalMs / 1000 > s.cellSeconds) break;
        }
        const times = results.map((r) => r.totalMs);
        const mid = [...results].sort((a, b) => a.totalMs - b.totalMs)[Math.floor((results.length - 1) / 2)]!;
        const rho = spearman(mid.map, ours);
        const diff = maxAbsDiff(mid.map, ours);
        let meanDiff = 0; for (let p = 0; p < P; p++) meanDiff += Math.abs(mid.map[p]! - ours[p]!); meanDiff /= P;
        const { map: _map, ...parts } = mid;
        put({ type: 'peer-rise', model: spec.name, status: 'ok', times, medianMs: median(times), ...parts, masks: h.masks, classIndex: h.classIndex, top1, spearman: rho, maxAbsDiff: diff, meanAbsDiff: meanDiff });
        log(`[ort-web] ${spec.name} RISE (JS masks and accumulation): median ${sec(median(times))} s over ${times.length} (forward ${sec(mid.forwardMs)} s, masks ${sec(mid.maskMs)} s, masking ${sec(mid.maskingMs)} s, accumulation ${sec(mid.accumulateMs)} s); vs ours max |diff| ${diff.toExponential(2)}, Spearman ${rho.toFixed(5)}`);
      } catch (e) {
        put({ type: 'peer-rise', model: spec.name, status: 'failed', reason: msg(e) });
        log(`[ort-web] ${spec.name} failed: ${msg(e)}`);
      } finally {
        try { await session?.dispose(); } catch { /* ignore */ }
      }
    }
  } finally {
    try { await peer.close(); } catch { /* ignore */ }
  }
}
