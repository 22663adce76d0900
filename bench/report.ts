/** Turns the children's records into the Markdown section for one adapter, and splices it into RESULTS.md. */
import os from 'node:os';
import type { BenchSettings, ModelSpec, PeerId, Record_ } from './types.js';
import { spliceSection } from './results-file.js';

export interface ReportInput {
  adapter: string;
  date: string;
  command: string;
  settings: BenchSettings;
  models: ModelSpec[];
  peers: PeerId[];
  records: Record_[];
  /** Per peer: a reason the whole child failed (crash, time-out), if it did. */
  peerFailures: Partial<Record<PeerId, string>>;
  shaderCache: boolean;
  /** 1-minute load average when the run started and ended (other work on the machine skews everything). */
  load: [number, number];
  /** The code measured: commit, and whether the working tree had changes (undefined outside a git checkout). */
  code?: string;
}

const PEER_NAMES: Record<PeerId, string> = { ours: 'webgpu-xai tuned', 'ours-static': 'webgpu-xai static', 'ort-web': 'ort-web WebGPU', tfjs: 'TF.js WebGPU', 'ort-node': 'ort-node CPU' };

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const esc = (s: string) => s.replace(/\|/g, '/').replace(/\s+/g, ' ');
const sec = (ms: number) => (ms / 1000).toFixed(1);
const geoMean = (xs: number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);

type Cell = Extract<Record_, { type: 'cell' }>;
type OkCell = Extract<Cell, { status: 'ok' }>;

export function buildSection(r: ReportInput): string {
  const of = <K extends Record_['type']>(type: K) => r.records.filter((x): x is Extract<Record_, { type: K }> => x.type === type);
  const cells = of('cell'); const loads = of('load'); const fails = of('failed'); const peersInfo = of('peer'); const tunes = of('tune'); const inter = of('interleaved');
  const flops = new Map(of('flops').map((f) => [f.model, f.flopsPerImage]));
  const ceil = of('ceiling').filter((c) => Number.isFinite(c.gflops)).sort((a, b) => b.gflops - a.gflops)[0];
  const has = (p: PeerId) => r.peers.includes(p);
  const cell = (peer: PeerId, model: string, batch: number): Cell | undefined => cells.find((c) => c.peer === peer && c.model === model && c.batch === batch);
  const ok = (peer: PeerId, model: string, batch: number): OkCell | undefined => { const c = cell(peer, model, batch); return c?.status === 'ok' ? c : undefined; };
  const whyMissing = (peer: PeerId, model?: string): string => {
    const f = fails.find((x) => x.peer === peer && x.model === model) ?? fails.find((x) => x.peer === peer && !x.model);
    if (f) return `failed: ${esc(f.reason)}`;
    if (r.peerFailures[peer]) return `failed: ${esc(r.peerFailures[peer]!)}`;
    return 'not run';
  };
  const show = (peer: PeerId, model: string, batch: number): string => {
    const c = cell(peer, model, batch);
    if (!c) return whyMissing(peer, model);
    if (c.status !== 'ok') return `${c.status}: ${esc(c.reason)}`;
    return c.reps < r.settings.reps ? `${fmt(c.imagesPerSec)} (${c.reps} run${c.reps > 1 ? 's' : ''})` : fmt(c.imagesPerSec);
  };

  // Ratios of img/s between two peers, per cell where both ran.
  const allPairs: { a: PeerId; b: PeerId; head: string }[] = [
    { a: 'ours', b: 'ours-static', head: 'tuned / static' },
    { a: 'ours', b: 'ort-web', head: 'tuned / ort-web' },
    { a: 'ours-static', b: 'ort-web', head: 'static / ort-web' },
  ];
  const pairs = allPairs.filter((q) => has(q.a) && has(q.b));
  const ratio = (a: PeerId, b: PeerId, model: string, batch: number) => {
    const x = ok(a, model, batch); const y = ok(b, model, batch);
    return x && y ? x.imagesPerSec / y.imagesPerSec : undefined;
  };
  const ratiosOf = (a: PeerId, b: PeerId) => {
    const out: { model: string; batch: number; q: number }[] = [];
    for (const m of r.models) for (const n of r.settings.batches) { const q = ratio(a, b, m.name, n); if (q !== undefined) out.push({ model: m.name, batch: n, q }); }
    return out;
  };
  const effPeer: PeerId = has('ours') ? 'ours' : 'ours-static';

  const lines: string[] = [];
  lines.push(`## ${r.adapter}`, '');
  lines.push(`${r.date} · ${r.code ? `commit ${r.code} · ` : ''}Node ${process.version} · \`${r.command}\` · load average ${r.load[0].toFixed(1)} at start, ${r.load[1].toFixed(1)} at end (${os.cpus().length} CPUs)`, '');
  lines.push('| runtime | device |', '|---|---|');
  for (const p of r.peers) {
    const info = peersInfo.find((x) => x.peer === p);
    const init = info?.initMs !== undefined ? ` (one-time initialisation ${sec(info.initMs)} s, not in the load times)` : '';
    lines.push(`| ${PEER_NAMES[p]}: ${info ? esc(info.label) : whyMissing(p)}${init} | ${esc(info?.device ?? '')} |`);
  }
  lines.push('');
  const ceilText = ceil ? `**${fmt(ceil.gflops)} GFLOP/s** (best of our fp32 matmul kernel's variants, ${ceil.M}x${ceil.N}x${ceil.K}, variant ${ceil.variant}; the conv kernels are separate code and can beat it)` : 'not measured';
  lines.push(`Adapter ceiling: ${ceilText}.`, '');

  // Headline: tuned / ort-web first, then static / ort-web and tuned / static.
  const headline = (a: PeerId, b: PeerId, text: string, bold: boolean) => {
    const qs = ratiosOf(a, b).map((x) => x.q);
    if (!qs.length) return `${text}: no cell where both ran.`;
    const g = `${fmt(geoMean(qs))}x`;
    return `${bold ? `**${text}: ${g}**` : `${text}: ${g}`} (geometric mean over ${qs.length} model x batch cell${qs.length > 1 ? 's' : ''}; range ${fmt(Math.min(...qs))}x to ${fmt(Math.max(...qs))}x).`;
  };
  const heads: string[] = [];
  if (has('ours') && has('ort-web')) heads.push(headline('ours', 'ort-web', 'tuned / onnxruntime-web (WebGPU EP)', true));
  if (has('ours-static') && has('ort-web')) heads.push(headline('ours-static', 'ort-web', 'static chooser / onnxruntime-web', !has('ours')));
  if (has('ours') && has('ours-static')) heads.push(headline('ours', 'ours-static', 'tuned / static chooser (separate processes)', false));
  const iq = inter.map((x) => x.staticMedianMs / x.tunedMedianMs);
  if (iq.length) heads.push(`tuned / static chooser, one process with their runs interleaved: ${fmt(geoMean(iq))}x (geometric mean over ${iq.length} cell${iq.length > 1 ? 's' : ''}; range ${fmt(Math.min(...iq))}x to ${fmt(Math.max(...iq))}x): what the tuning itself gains, without the process-to-process variation.`);
  if (heads.length) lines.push(...heads.map((h) => `- ${h}`), '');

  const body: string[] = [];
  body.push(`| model | GFLOP/img | batch | ${r.peers.map((p) => PEER_NAMES[p]).join(' | ')} |${pairs.map((q) => ` ${q.head} |`).join('')} ${effPeer === 'ours' ? 'tuned' : 'static'} GFLOP/s (% of ceiling) |`);
  body.push(`|---|---:|---:|${r.peers.map(() => '---:').join('|')}|${pairs.map(() => '---:|').join('')}---:|`);
  for (const m of r.models) {
    const f = flops.get(m.name);
    for (const b of r.settings.batches) {
      const q = pairs.map((p) => { const x = ratio(p.a, p.b, m.name, b); return x === undefined ? '' : `${fmt(x)}x`; });
      const mine = ok(effPeer, m.name, b);
      const eff = mine && f ? (f * mine.imagesPerSec) / 1e9 : undefined;
      const effText = eff === undefined ? '' : `${fmt(eff)}${ceil ? ` (${((100 * eff) / ceil.gflops).toFixed(0)} %)` : ''}`;
      body.push(`| ${m.label} | ${f ? (f / 1e9).toFixed(2) : '?'} | ${b} | ${r.peers.map((p) => show(p, m.name, b)).join(' | ')} |${q.map((x) => ` ${x} |`).join('')} ${effText} |`);
    }
  }
  lines.push('Forward throughput, images/s (median of timed runs after a warm-up run; upload and readback included):', '', ...body, '');

  if (has('ours')) {
    lines.push('Tuning, per model and batch (the tuned engine, from an empty cache; batch 1 inside the load, other batches by `model.tune` before their first run):', '');
    lines.push('| model | batch | tuning, s | geometries (nodes) | timed / from cache / unfinished / one candidate | candidates rejected | choice ≠ static | tuned layers, GPU ms per pass: static → tuned (tuner, each layer alone) | whole pass, ms: static → tuned (throughput table, separate processes) | whole pass, ms: static → tuned (one process, interleaved) |');
    lines.push('|---|---:|---:|---:|---|---:|---:|---|---|---|');
    for (const m of r.models) {
      for (const b of r.settings.batches) {
        const t = tunes.find((x) => x.peer === 'ours' && x.model === m.name && x.batch === b);
        const tc = cell('ours', m.name, b);
        if (!t) {
          const why = tc && tc.status !== 'ok' ? `${tc.status}: ${esc(tc.reason)}` : whyMissing('ours', m.name);
          lines.push(`| ${m.label} | ${b} | ${why} | | | | | | | |`);
          continue;
        }
        const i = t.info;
        const layers = Number.isFinite(i.speedup) ? `${fmt(i.staticLayerMs)} → ${fmt(i.tunedLayerMs)} (${fmt(i.speedup)}x)` : 'nothing timed';
        const st = ok('ours-static', m.name, b); const tu = ok('ours', m.name, b);
        const whole = st && tu ? `${fmt(st.medianMs)} → ${fmt(tu.medianMs)} (${fmt(st.medianMs / tu.medianMs)}x)` : '';
        const il = inter.find((x) => x.model === m.name && x.batch === b);
        const paired = il ? `${fmt(il.staticMedianMs)} → ${fmt(il.tunedMedianMs)} (${fmt(il.staticMedianMs / il.tunedMedianMs)}x, ${il.pairs} pairs)` : '';
        lines.push(`| ${m.label} | ${b} | ${sec(i.ms)} | ${i.geometries} (${i.nodes}) | ${i.timed} / ${i.fromCache} / ${i.unfinished} / ${i.single} | ${i.rejected} | ${i.changed} | ${layers} | ${whole} | ${paired} |`);
      }
    }
    const timers = [...new Set(tunes.filter((x) => x.peer === 'ours').map((x) => x.info.timer))];
    const store = peersInfo.find((x) => x.peer === 'ours')?.tuningStore;
    lines.push('', `Tuning budget ${(r.settings.tuneBudgetMs / 1000).toFixed(0)} s per model and batch; candidates timed with ${timers.length ? timers.join(', ') : '(no tuning call ran)'}${store ? `; choices stored in this run's own ${esc(store)}` : ''}. The tuner's times are GPU time of each layer alone on random inputs (what it picks by); the last two columns are the whole forward pass with upload and readback: from the throughput table (the tuned and the static engine in two processes, one after the other), and from the tuned engine's process, which after its timed runs loads the static chooser too and runs the two in turn (the order alternating per pair).`, '');
  }

  lines.push(`Model load and first run, seconds (${has('ours') || has('ours-static') ? 'ours compiles every kernel of the batch-1 plan inside load, one single-workgroup dispatch per pipeline; the others compile at the first run' : 'the runtimes compile at the first run'}${has('ours') ? `; the tuned load tunes batch 1 before it builds that plan: its tuning time is taken out of its load time and shown on its own, and the pipelines of the chosen kernels were already compiled while tuning` : ''}):`, '');
  const loadCols = r.peers.flatMap((p) => (p === 'ours' ? [PEER_NAMES[p], 'tuning inside the tuned load'] : [PEER_NAMES[p]]));
  lines.push(`| model | ${loadCols.join(' | ')} |`, `|---|${loadCols.map(() => '---:').join('|')}|`);
  for (const m of r.models) {
    lines.push(`| ${m.label} | ${r.peers.flatMap((p) => {
      const l = loads.find((x) => x.peer === p && x.model === m.name);
      if (!l) return p === 'ours' ? [whyMissing(p, m.name), ''] : [whyMissing(p, m.name)];
      const main = `${sec(l.loadMs - (l.tuneMs ?? 0))} + ${sec(l.firstRunMs)}`;
      return p === 'ours' ? [main, l.tuneMs !== undefined ? sec(l.tuneMs) : ''] : [main];
    }).join(' | ')} |`);
  }
  lines.push('');

  // Output agreement on the batch-1 input, against onnxruntime-node (or one of ours when it did not run).
  const outs = of('output');
  const refPeer: PeerId = (['ort-node', 'ours-static', 'ours'] as const).find((p) => outs.some((o) => o.peer === p)) ?? 'ours';
  const agree: string[] = [];
  for (const m of r.models) {
    const ref = outs.find((o) => o.peer === refPeer && o.model === m.name);
    if (!ref) continue;
    const scale = Math.max(...ref.data.map(Math.abs)) || 1;
    const parts = outs.filter((o) => o.model === m.name && o.peer !== refPeer).map((o) => {
      let e = 0;
      o.data.forEach((v, i) => { e = Math.max(e, Math.abs(v - ref.data[i]!)); });
      return `${PEER_NAMES[o.peer]} ${(e / scale).toExponential(1)}`;
    });
    if (parts.length) agree.push(`${m.name}: ${parts.join(', ')}`);
  }
  const notes = [
    r.shaderCache ? 'Driver shader caches left on (first-run times may reflect earlier runs).' : 'Driver shader caches off (MESA_SHADER_CACHE_DISABLE, __GL_SHADER_DISK_CACHE=0): load, first-run and tuning times are cold starts.',
    `Same input for every runtime: seeded N(0, 1) images, [batch, 3, 224, 224]; SqueezeNet and ShuffleNet are the real fp32 models from shared/models with the batch dimension made symbolic; ResNet-18/50 are full-size graphs with random weights (bench/resnet18.ts, tools/model-zoo.ts), identical bytes for every runtime.`,
    `TF.js runs the same graphs translated op by op into tf ops (bench/onnx-to-tf.ts: NHWC, BatchNorm folded, conv+Relu and matmul+bias fused), with the same weights: exact weights are not needed for a speed comparison, but they let the outputs be checked.`,
    `A cell shows '(n runs)' when fewer than ${r.settings.reps} timed runs fitted in ${r.settings.cellSeconds} s; 'skipped: est. N s/run' when a warm-up plus one run was estimated above ${r.settings.maxRunSeconds} s from the previous batch size.`,
    `Effective GFLOP/s counts 2 FLOPs per multiply-add of Conv/Gemm/MatMul in the specialised graph (bench/flops.ts), divided by the ${effPeer === 'ours' ? 'tuned' : 'static'} engine's time per image.`,
  ];
  if (has('ours')) {
    notes.push(`Tuned vs static: two child processes of the same run, one after the other (tuned first), same models, inputs and adapter; 'ours' is webgpu-xai as loaded by default (LoadOptions.tune) but with a ${(r.settings.tuneBudgetMs / 1000).toFixed(0)} s budget instead of 5 s, starting from an empty tuning cache (WEBGPU_XAI_CACHE_DIR set to a fresh folder of this run); 'ours-static' is \`tune: false\`. Models of one run share the device's choices, so a geometry an earlier model timed counts as 'from cache' in a later one.`);
  }
  if (agree.length) notes.push(`Output check, batch 1, max |difference| / max |${PEER_NAMES[refPeer]}|: ${agree.join('; ')}.`);
  lines.push(...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/** Replaces this adapter's bench section of the results file (keeps the others). */
export function spliceResults(path: string, adapter: string, section: string): void {
  spliceSection(path, 'bench', adapter, section);
}
