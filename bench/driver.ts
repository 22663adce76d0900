/**
 * The child-process side: one runtime, every model, every batch. Each result is appended to a JSON
 * lines file as soon as it exists, so a crash or a time-out still leaves what was measured.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { benchInput } from './models.js';
import type { BenchSettings, ModelSpec, Peer, PeerId, Record_, TuneInfo } from './types.js';

/** What the parent hands every child: the settings, and which of our two peers measures the ceiling. */
export type ChildSettings = BenchSettings & { quick: boolean; ceilingPeer?: PeerId };

async function createPeer(id: PeerId, settings: ChildSettings): Promise<Peer> {
  switch (id) {
    case 'ours': return (await import('./peers/ours.js')).createOurs(true, settings.tuneBudgetMs);
    case 'ours-static': return (await import('./peers/ours.js')).createOurs(false);
    case 'ort-web': return (await import('./peers/ort-web.js')).createOrtWeb();
    case 'tfjs': return (await import('./peers/tfjs.js')).createTfjs();
    case 'ort-node': return (await import('./peers/ort-node.js')).createOrtNode();
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const msg = (e: unknown) => ((e as Error)?.message ?? String(e)).split('\n')[0]!.slice(0, 160);
const log = (s: string) => process.stderr.write(`${s}\n`);

const tuneText = (t: TuneInfo) => `tuned ${t.geometries} geometries in ${(t.ms / 1000).toFixed(1)} s (${t.timed} timed, ${t.fromCache} from cache, ${t.unfinished} unfinished, ${t.changed} changed, ${t.rejected} rejected${Number.isFinite(t.speedup) ? `, tuned layers ${t.speedup.toFixed(2)}x` : ''})`;

export async function runChild(id: PeerId, models: ModelSpec[], outPath: string, settings: ChildSettings): Promise<void> {
  const put = (r: Record_) => appendFileSync(outPath, `${JSON.stringify(r)}\n`);
  let peer: Peer;
  try {
    peer = await createPeer(id, settings);
  } catch (e) {
    put({ type: 'failed', peer: id, reason: msg(e) });
    log(`[${id}] failed to start: ${msg(e)}`);
    return;
  }
  const ours = id === 'ours' || id === 'ours-static' ? peer as import('./peers/ours.js').OursPeer : undefined;
  put({ type: 'peer', peer: id, label: peer.label, device: peer.device, initMs: peer.initMs, ...(ours?.tuningStore ? { tuningStore: ours.tuningStore } : {}) });
  log(`[${id}] ${peer.label} on ${peer.device ?? '?'}${peer.initMs !== undefined ? ` (initialised in ${(peer.initMs / 1000).toFixed(1)} s)` : ''}`);
  try {
    if (ours && settings.ceiling && id === (settings.ceilingPeer ?? 'ours')) {
      for (const r of await ours.ceiling(settings.quick)) {
        put({ type: 'ceiling', peer: id, ...r });
        log(`[${id}] matmul ${r.M}^3 ${r.variant}: ${r.gflops.toFixed(1)} GFLOP/s`);
      }
    }
    for (const model of models) {
      const bytes = new Uint8Array(readFileSync(model.file));
      if (ours) {
        try {
          const f = await ours.flops(model, bytes);
          put({ type: 'flops', peer: id, model: model.name, flopsPerImage: f.flops, convs: f.convs, gemms: f.gemms });
        } catch (e) { log(`[${id}] FLOP count of ${model.name} failed: ${msg(e)}`); }
      }
      let session;
      const t0 = performance.now();
      let firstRunMs: number;
      try {
        // A tuning peer tunes batch 1 inside load (before the batch-1 plan is built and warmed).
        session = await peer.load(model, bytes);
        const loadMs = performance.now() - t0;
        const t1 = performance.now();
        const out = await session.run(1, benchInput(1, model.chw));
        firstRunMs = performance.now() - t1;
        const lt = session.loadTune;
        put({ type: 'load', peer: id, model: model.name, loadMs, firstRunMs, ...(lt ? { tuneMs: lt.ms } : {}) });
        if (lt) put({ type: 'tune', peer: id, model: model.name, batch: 1, atLoad: true, info: lt });
        put({ type: 'output', peer: id, model: model.name, data: Array.from(out.subarray(0, 1000)) });
        log(`[${id}] ${model.name}: load ${(loadMs / 1000).toFixed(1)} s${lt ? ` (of which tuning batch 1: ${(lt.ms / 1000).toFixed(1)} s)` : ''}, first run ${(firstRunMs / 1000).toFixed(1)} s`);
        if (lt) log(`[${id}] ${model.name} b1: ${tuneText(lt)}`);
      } catch (e) {
        put({ type: 'failed', peer: id, model: model.name, reason: msg(e) });
        log(`[${id}] ${model.name} failed: ${msg(e)}`);
        try { await session?.dispose(); } catch { /* ignore */ }
        continue;
      }
      let perImageMs: number | undefined;
      for (const batch of settings.batches) {
        const est = perImageMs !== undefined ? (perImageMs * batch * (batch === 1 ? 1 : 2)) / 1000 : 0;
        if (est > settings.maxRunSeconds) {
          put({ type: 'cell', peer: id, model: model.name, batch, status: 'skipped', reason: `est. ${Math.round(est / (batch === 1 ? 1 : 2))} s/run` });
          log(`[${id}] ${model.name} b${batch}: skipped (estimated ${est.toFixed(0)} s for warm-up + 1 run)`);
          continue;
        }
        try {
          // Tuning for this batch comes before its first run, which builds its plan with the choices.
          if (session.tune && batch !== 1) {
            let t: TuneInfo | undefined;
            try { t = await session.tune(batch); } catch (e) { throw new Error(`tuning failed: ${msg(e)}`); }
            if (t) {
              put({ type: 'tune', peer: id, model: model.name, batch, atLoad: false, info: t });
              log(`[${id}] ${model.name} b${batch}: ${tuneText(t)}`);
            }
          }
          const input = benchInput(batch, model.chw);
          let warmupMs = firstRunMs;
          if (batch !== 1) {
            const tw = performance.now();
            await session.run(batch, input);
            warmupMs = performance.now() - tw;
          }
          const times: number[] = [];
          const start = performance.now();
          while (times.length < settings.reps) {
            const t = performance.now();
            await session.run(batch, input);
            times.push(performance.now() - t);
            const spent = (performance.now() - start) / 1000;
            if (spent + times[times.length - 1]! / 1000 > settings.cellSeconds) break;
          }
          const sorted = [...times].sort((a, b) => a - b);
          const medianMs = median(times);
          perImageMs = medianMs / batch;
          put({ type: 'cell', peer: id, model: model.name, batch, status: 'ok', medianMs, minMs: sorted[0]!, imagesPerSec: (1000 * batch) / medianMs, reps: times.length, warmupMs, times });
          log(`[${id}] ${model.name} b${batch}: ${((1000 * batch) / medianMs).toFixed(2)} img/s (median of ${times.length}, warm-up ${(warmupMs / 1000).toFixed(1)} s)`);
          if (session.interleavedStatic) {
            try {
              // At least as many pairs as timed runs; more where passes are short (medians of 3 swing by 15 %).
              const pairs = Math.max(times.length, Math.min(15, Math.floor((settings.cellSeconds * 1000) / (2 * medianMs))));
              const { tunedMs, staticMs } = await session.interleavedStatic(batch, input, pairs);
              const tm = median(tunedMs), sm = median(staticMs);
              put({ type: 'interleaved', peer: id, model: model.name, batch, tunedMedianMs: tm, staticMedianMs: sm, pairs: tunedMs.length });
              log(`[${id}] ${model.name} b${batch}: interleaved with the static chooser, ${tm.toFixed(1)} vs ${sm.toFixed(1)} ms (tuned/static ${(sm / tm).toFixed(2)}x)`);
            } catch (e) { log(`[${id}] ${model.name} b${batch}: interleaved static runs failed: ${msg(e)}`); }
          }
        } catch (e) {
          put({ type: 'cell', peer: id, model: model.name, batch, status: 'failed', reason: msg(e) });
          log(`[${id}] ${model.name} b${batch} failed: ${msg(e)}`);
        }
      }
      try { await session.dispose(); } catch { /* ignore */ }
    }
  } finally {
    try { await peer.close(); } catch { /* ignore */ }
  }
}
