/**
 * The child-process side of bench/xai.ts: 'ours' (every method on every model, forward timing at the
 * explanation batch, and the SISE hand-off: class, image, selected channels, feature maps, our map)
 * and 'ort-web' (the same SISE with forward passes on onnxruntime-web's WebGPU EP and the mask
 * arithmetic in JavaScript, bench/xai-sise-js.ts). Records go to a JSON-lines file as they exist.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNodeGpu } from '../src/node.js';
import { Model } from '../src/runtime/model.js';
import { seedOf } from '../src/runtime/reverse.js';
import { METHODS } from '../src/xai/explain.js';
import { preprocessImage, PRESETS, guessPreset } from '../src/xai/preprocess.js';
import { detectBlocks } from '../src/xai/blocks.js';
import { selectChannels } from '../src/xai/sise.js';
import type { Explanation } from '../src/xai/explanation.js';
import { readImage } from '../src/image-io.js';
import { bilinearTaps, cascadeFusion, makeMask, spearman } from './xai-sise-js.js';
import type { ModelSpec } from './types.js';

export interface XaiSettings {
  batch: number;
  methods: string[];
  reps: number;
  peerReps: number;
  cellSeconds: number;
  mu: number;
  image: string;
  /** Folder for the SISE hand-off from 'ours' to 'ort-web'. */
  handoff: string;
}

export interface HandoffLayer { name: string; shape: number[]; idx: number[]; file: string }
export interface Handoff {
  model: string; inputName: string; chw: [number, number, number]; classIndex: number; endsInSoftmax: boolean;
  mu: number; imageFile: string; mapFile: string; layers: HandoffLayer[]; oursMasks: number; selectionMatches: boolean;
}

const msg = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0]!.slice(0, 200);
const log = (s: string) => process.stderr.write(`${s}\n`);
export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2; };
const writeF32 = (path: string, a: Float32Array) => writeFileSync(path, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
const readF32 = (path: string) => { const b = readFileSync(path); return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };

/** Masked forward passes of an explanation and how many batches they ran in. */
export function maskedOf(e: Explanation, batch: number): { masked: number; batches: number } {
  const masks = (e.params['masks'] as number | undefined) ?? 0;
  if (e.method === 'sise' || e.method === 'ada-sise') {
    return { masked: masks, batches: (e.layers ?? []).reduce((s, l) => s + Math.ceil((l.masks ?? 0) / batch), 0) };
  }
  return { masked: masks, batches: Math.ceil(masks / batch) };
}

export async function runXaiChild(peer: 'ours' | 'ort-web', models: ModelSpec[], outPath: string, s: XaiSettings): Promise<void> {
  const put = (r: object) => appendFileSync(outPath, `${JSON.stringify(r)}\n`);
  if (peer === 'ours') await runOurs(models, s, put);
  else await runOrtWeb(models, s, put);
}

async function runOurs(models: ModelSpec[], s: XaiSettings, put: (r: object) => void): Promise<void> {
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
        const layers = detectBlocks(model);
        put({ type: 'model', peer: 'ours', model: spec.name, label: spec.label, loadMs, preset, layers: layers.map((l) => ({ name: l.name, shape: l.shape })) });
        log(`[ours] ${spec.name}: loaded in ${(loadMs / 1000).toFixed(1)} s, preset ${preset}, ${layers.length} block layers (${layers.map((l) => l.shape[1]).join('+')} channels)`);

        // Forward time at the explanation batch: the plan SISE and Score-CAM use (same keep, so the same cached plan).
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
          log(`[ours] ${spec.name} forward b${s.batch}: ${ms.toFixed(1)} ms/batch (${((1000 * s.batch) / ms).toFixed(1)} img/s, ${times.length}x${q} batches)`);
        } catch (e) {
          put({ type: 'failed', peer: 'ours', model: spec.name, what: 'forward', reason: msg(e) });
          log(`[ours] ${spec.name} forward timing failed: ${msg(e)}`);
        }

        let siseMap: Float32Array | undefined; let siseExpl: Explanation | undefined;
        for (const method of s.methods) {
          const run = METHODS[method]!;
          const opts = { batchSize: s.batch, ...(method === 'sise' ? { mu: s.mu } : {}) };
          try {
            const tw = performance.now();
            let e = await run(model, x, opts);
            const warmupMs = performance.now() - tw;
            const { masked, batches } = maskedOf(e, s.batch);
            log(`[ours] ${spec.name} ${method}: warm-up ${(warmupMs / 1000).toFixed(2)} s, ${masked} masked passes, class ${e.classIndex}`);
            const times: number[] = []; const runs: Explanation[] = [];
            let cold = false;
            if (warmupMs / 1000 > s.cellSeconds) {
              // One explanation already exceeds the cell's budget: the warm-up is the measurement.
              cold = true; times.push(warmupMs); runs.push(e);
            } else {
              const start = performance.now();
              while (times.length < s.reps) {
                const t = performance.now();
                e = await run(model, x, opts);
                times.push(performance.now() - t); runs.push(e);
                if ((performance.now() - start) / 1000 + times[times.length - 1]! / 1000 > s.cellSeconds) break;
              }
            }
            const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
            const mid = runs[order[Math.floor((order.length - 1) / 2)]![1]]!;
            put({ type: 'cell', peer: 'ours', model: spec.name, method, status: 'ok', times, medianMs: median(times), warmupMs, cold,
              classIndex: mid.classIndex, score: mid.score, forwardPasses: mid.forwardPasses, backwardPasses: mid.backwardPasses, masked, batches,
              timings: mid.timings, layerMasks: (mid.layers ?? []).map((l) => l.masks ?? 0) });
            log(`[ours] ${spec.name} ${method}: median ${(median(times) / 1000).toFixed(3)} s over ${times.length}${cold ? ' (cold)' : ''}; phases ${Object.entries(mid.timings).map(([k, v]) => `${k} ${(v / 1000).toFixed(2)}`).join(', ')}`);
            if (method === 'sise') { siseMap = mid.map.data; siseExpl = mid; }
          } catch (e) {
            put({ type: 'cell', peer: 'ours', model: spec.name, method, status: 'failed', reason: msg(e) });
            log(`[ours] ${spec.name} ${method} failed: ${msg(e)}`);
          }
        }

        // SISE hand-off for the ort-web peer: our α selection and our feature maps.
        if (siseMap && siseExpl) {
          try {
            const names = layers.map((l) => l.name);
            const c = siseExpl.classIndex;
            const { grads } = await model.gradients({ [spec.inputName]: { dtype: 'float32', shape: [1, ...spec.chw], data: x } }, { wrt: names, classes: [c], mode: 'softmax' });
            const { kept } = await model.run({ [spec.inputName]: { dtype: 'float32', shape: [1, ...spec.chw], data: x } }, { keep: names });
            const hl: HandoffLayer[] = [];
            let matches = true;
            layers.forEach((l, li) => {
              const [, C, h, w] = l.shape as [number, number, number, number];
              const A = kept[l.name]!.data as Float32Array; const G = grads[l.name]!.data as Float32Array;
              const alpha = new Float32Array(C); const usable: boolean[] = [];
              for (let k = 0; k < C; k++) {
                let sum = 0, lo = Infinity, hi = -Infinity;
                for (let p = 0; p < h * w; p++) { sum += G[k * h * w + p]!; const a = A[k * h * w + p]!; if (a < lo) lo = a; if (a > hi) hi = a; }
                alpha[k] = sum / (h * w); usable.push(hi > lo);
              }
              const idx = selectChannels(alpha, usable, { kind: 'threshold', mu: s.mu });
              const ours = siseExpl!.layers?.find((m) => m.layer === l.name)?.masks ?? 0;
              if (ours !== idx.length) matches = false;
              const file = join(s.handoff, `${spec.name}.L${li}.f32`);
              writeF32(file, A);
              hl.push({ name: l.name, shape: l.shape, idx, file });
            });
            const imageFile = join(s.handoff, `${spec.name}.image.f32`); writeF32(imageFile, x);
            const mapFile = join(s.handoff, `${spec.name}.map.f32`); writeF32(mapFile, siseMap);
            const endsInSoftmax = model.graph.nodes.some((n) => n.opType === 'Softmax' && n.outputs[0] === model!.outputs[0]!.name);
            const h: Handoff = { model: spec.name, inputName: spec.inputName, chw: spec.chw, classIndex: c, endsInSoftmax, mu: s.mu, imageFile, mapFile, layers: hl,
              oursMasks: (siseExpl.params['masks'] as number) ?? 0, selectionMatches: matches };
            writeFileSync(join(s.handoff, `${spec.name}.json`), JSON.stringify(h));
            log(`[ours] ${spec.name}: SISE hand-off written (${hl.map((l) => l.idx.length).join('+')} channels${matches ? '' : ', SELECTION DIFFERS from the explanation'})`);
          } catch (e) {
            put({ type: 'failed', peer: 'ours', model: spec.name, what: 'handoff', reason: msg(e) });
            log(`[ours] ${spec.name} hand-off failed: ${msg(e)}`);
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

async function runOrtWeb(models: ModelSpec[], s: XaiSettings, put: (r: object) => void): Promise<void> {
  const { createOrtWeb } = await import('./peers/ort-web.js');
  let peer;
  try { peer = await createOrtWeb(); } catch (e) {
    put({ type: 'failed', peer: 'ort-web', reason: msg(e) }); log(`[ort-web] failed to start: ${msg(e)}`); return;
  }
  put({ type: 'device', peer: 'ort-web', label: peer.label, device: peer.device, initMs: peer.initMs });
  log(`[ort-web] ${peer.label} on ${peer.device} (init ${((peer.initMs ?? 0) / 1000).toFixed(1)} s)`);
  try {
    for (const spec of models) {
      let h: Handoff;
      try { h = JSON.parse(readFileSync(join(s.handoff, `${spec.name}.json`), 'utf8')) as Handoff; } catch {
        put({ type: 'peer-sise', model: spec.name, status: 'failed', reason: 'no SISE hand-off from webgpu-xai (its SISE failed or was not run)' });
        continue;
      }
      let session;
      try {
        const B = s.batch;
        const [C3, H, W] = spec.chw; const P = H * W;
        const t0 = performance.now();
        session = await peer.load(spec, new Uint8Array(readFileSync(spec.file)));
        const loadMs = performance.now() - t0;
        const x = readF32(h.imageFile);
        const input = new Float32Array(B * C3 * P);
        for (let i = 0; i < input.length; i++) input[i] = x[i % x.length]!;
        const t1 = performance.now();
        await session.run(B, input);
        const firstRunMs = performance.now() - t1;
        log(`[ort-web] ${spec.name}: load ${(loadMs / 1000).toFixed(1)} s, first run at batch ${B} ${(firstRunMs / 1000).toFixed(1)} s`);
        // Forward time at the same batch (upload + readback included, as in every run below).
        const ft: number[] = [];
        const fs = performance.now();
        while (ft.length < 5) {
          const t = performance.now(); await session.run(B, input); ft.push(performance.now() - t);
          if ((performance.now() - fs) / 1000 + ft[ft.length - 1]! / 1000 > s.cellSeconds / 3) break;
        }
        const batchMs = median(ft);
        put({ type: 'forward', peer: 'ort-web', model: spec.name, batch: B, batchMs, perImageMs: batchMs / B, reps: ft.length, loadMs, firstRunMs });
        log(`[ort-web] ${spec.name} forward b${B}: ${batchMs.toFixed(1)} ms/batch (${((1000 * B) / batchMs).toFixed(1)} img/s)`);

        const ours = readF32(h.mapFile);
        const layerData = h.layers.map((l) => ({ ...l, A: readF32(l.file) }));
        const masks = new Float32Array(B * P); const mass = new Float64Array(B);
        const times: number[] = []; const parts: { forwardMs: number; jsMs: number; fusionMs: number; batches: number }[] = [];
        let rho = NaN;
        const start = performance.now();
        while (times.length < s.peerReps) {
          const tStart = performance.now();
          let forwardMs = 0, batches = 0;
          const maps: Float32Array[] = [];
          for (const l of layerData) {
            if (l.idx.length === 0) continue;
            const [, , h0, w0] = l.shape as [number, number, number, number];
            const ys = bilinearTaps(h0, H), xs = bilinearTaps(w0, W);
            const V = new Float64Array(P);
            for (let st = 0; st < l.idx.length; st += B) {
              const n = Math.min(B, l.idx.length - st);
              for (let i = 0; i < n; i++) {
                const m = masks.subarray(i * P, (i + 1) * P);
                mass[i] = makeMask(l.A, l.idx[st + i]! * h0 * w0, w0, ys, xs, m);
                for (let c = 0; c < C3; c++) {
                  const o = (i * C3 + c) * P, xo = c * P;
                  for (let p = 0; p < P; p++) input[o + p] = x[xo + p]! * m[p]!;
                }
              }
              const tf = performance.now();
              const out = await session.run(B, input);
              forwardMs += performance.now() - tf; batches++;
              const K = out.length / B;
              for (let i = 0; i < n; i++) {
                let psi: number;
                if (h.endsInSoftmax) psi = out[i * K + h.classIndex]!;
                else {
                  let mx = -Infinity; for (let k = 0; k < K; k++) mx = Math.max(mx, out[i * K + k]!);
                  let den = 0; for (let k = 0; k < K; k++) den += Math.exp(out[i * K + k]! - mx);
                  psi = Math.exp(out[i * K + h.classIndex]! - mx) / den;
                }
                if (!(mass[i]! > 0)) continue;
                const wgt = psi / mass[i]!; const m = masks.subarray(i * P, (i + 1) * P);
                for (let p = 0; p < P; p++) V[p]! += wgt * m[p]!;
              }
            }
            maps.push(Float32Array.from(V));
          }
          const tFus = performance.now();
          const fused = maps.length ? cascadeFusion(maps) : new Float32Array(P);
          const end = performance.now();
          times.push(end - tStart);
          parts.push({ forwardMs, jsMs: tFus - tStart - forwardMs, fusionMs: end - tFus, batches });
          rho = spearman(fused, ours);
          if ((performance.now() - start) / 1000 + times[times.length - 1]! / 1000 > s.cellSeconds) break;
        }
        const order = times.map((t, i) => [t, i] as const).sort((a, b) => a[0] - b[0]);
        const mid = parts[order[Math.floor((order.length - 1) / 2)]![1]]!;
        const maskedPasses = h.layers.reduce((t, l) => t + l.idx.length, 0);
        put({ type: 'peer-sise', model: spec.name, status: 'ok', times, medianMs: median(times), ...mid, maskedPasses, spearman: rho, selectionMatches: h.selectionMatches, oursMasks: h.oursMasks, mu: h.mu });
        log(`[ort-web] ${spec.name} SISE (JS arithmetic): median ${(median(times) / 1000).toFixed(2)} s over ${times.length} (forward ${(mid.forwardMs / 1000).toFixed(2)} s, JS ${(mid.jsMs / 1000).toFixed(2)} s, fusion ${(mid.fusionMs / 1000).toFixed(3)} s); Spearman vs ours ${rho.toFixed(4)}`);
      } catch (e) {
        put({ type: 'peer-sise', model: spec.name, status: 'failed', reason: msg(e) });
        log(`[ort-web] ${spec.name} failed: ${msg(e)}`);
      } finally {
        try { await session?.dispose(); } catch { /* ignore */ }
      }
    }
  } finally {
    try { await peer.close(); } catch { /* ignore */ }
  }
}
