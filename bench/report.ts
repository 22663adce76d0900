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
}

const PEER_NAMES: Record<PeerId, string> = { ours: 'webgpu-xai', 'ort-web': 'ort-web WebGPU', tfjs: 'TF.js WebGPU', 'ort-node': 'ort-node CPU' };

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const esc = (s: string) => s.replace(/\|/g, '/').replace(/\s+/g, ' ');

export function buildSection(r: ReportInput): string {
  const of = <K extends Record_['type']>(type: K) => r.records.filter((x): x is Extract<Record_, { type: K }> => x.type === type);
  const cells = of('cell'); const loads = of('load'); const fails = of('failed'); const peersInfo = of('peer');
  const flops = new Map(of('flops').map((f) => [f.model, f.flopsPerImage]));
  const ceil = of('ceiling').filter((c) => Number.isFinite(c.gflops)).sort((a, b) => b.gflops - a.gflops)[0];
  const cell = (peer: PeerId, model: string, batch: number) => cells.find((c) => c.peer === peer && c.model === model && c.batch === batch);
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

  const ratios: number[] = [];
  const lines: string[] = [];
  lines.push(`## ${r.adapter}`, '');
  lines.push(`${r.date} · Node ${process.version} · \`${r.command}\` · load average ${r.load[0].toFixed(1)} at start, ${r.load[1].toFixed(1)} at end (${os.cpus().length} CPUs)`, '');
  lines.push('| runtime | device |', '|---|---|');
  for (const p of r.peers) {
    const info = peersInfo.find((x) => x.peer === p);
    const init = info?.initMs !== undefined ? ` (one-time initialisation ${(info.initMs / 1000).toFixed(1)} s, not in the load times)` : '';
    lines.push(`| ${PEER_NAMES[p]}: ${info ? esc(info.label) : whyMissing(p)}${init} | ${esc(info?.device ?? '')} |`);
  }
  lines.push('');
  const ceilText = ceil ? `**${fmt(ceil.gflops)} GFLOP/s** (best of our fp32 matmul kernel's variants, ${ceil.M}x${ceil.N}x${ceil.K}, variant ${ceil.variant}; the conv kernels are separate code and can beat it)` : 'not measured';
  lines.push(`Adapter ceiling: ${ceilText}.`, '');

  const body: string[] = [];
  body.push(`| model | GFLOP/img | batch | ${r.peers.map((p) => PEER_NAMES[p]).join(' | ')} |${r.peers.includes('ort-web') ? ' ours / ort-web |' : ''} ours GFLOP/s (% of ceiling) |`);
  body.push(`|---|---:|---:|${r.peers.map(() => '---:').join('|')}|${r.peers.includes('ort-web') ? '---:|' : ''}---:|`);
  for (const m of r.models) {
    const f = flops.get(m.name);
    for (const b of r.settings.batches) {
      const ours = cell('ours', m.name, b); const web = cell('ort-web', m.name, b);
      let ratio = '';
      if (ours?.status === 'ok' && web?.status === 'ok') {
        const q = ours.imagesPerSec / web.imagesPerSec; ratios.push(q); ratio = `${fmt(q)}x`;
      }
      const eff = ours?.status === 'ok' && f ? (f * ours.imagesPerSec) / 1e9 : undefined;
      const effText = eff === undefined ? '' : `${fmt(eff)}${ceil ? ` (${((100 * eff) / ceil.gflops).toFixed(0)} %)` : ''}`;
      body.push(`| ${m.label} | ${f ? (f / 1e9).toFixed(2) : '?'} | ${b} | ${r.peers.map((p) => show(p, m.name, b)).join(' | ')} |${r.peers.includes('ort-web') ? ` ${ratio} |` : ''} ${effText} |`);
    }
  }
  if (ratios.length) {
    const geo = Math.exp(ratios.reduce((s, x) => s + Math.log(x), 0) / ratios.length);
    lines.push(`**ours / onnxruntime-web (WebGPU EP): ${fmt(geo)}x** (geometric mean over ${ratios.length} model x batch cells; range ${fmt(Math.min(...ratios))}x to ${fmt(Math.max(...ratios))}x).`, '');
  } else if (r.peers.includes('ort-web')) lines.push('ours / onnxruntime-web: no cell where both ran.', '');
  lines.push('Forward throughput, images/s (median of timed runs after a warm-up run; upload and readback included):', '', ...body, '');

  lines.push('Model load and first run, seconds (ours compiles every kernel inside load, one single-workgroup dispatch per pipeline; the others compile at the first run):', '');
  lines.push(`| model | ${r.peers.map((p) => PEER_NAMES[p]).join(' | ')} |`, `|---|${r.peers.map(() => '---:').join('|')}|`);
  for (const m of r.models) {
    lines.push(`| ${m.label} | ${r.peers.map((p) => {
      const l = loads.find((x) => x.peer === p && x.model === m.name);
      return l ? `${(l.loadMs / 1000).toFixed(1)} + ${(l.firstRunMs / 1000).toFixed(1)}` : whyMissing(p, m.name);
    }).join(' | ')} |`);
  }
  lines.push('');

  // Output agreement on the batch-1 input, against onnxruntime-node (or ours when it did not run).
  const outs = of('output');
  const refPeer: PeerId = outs.some((o) => o.peer === 'ort-node') ? 'ort-node' : 'ours';
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
    r.shaderCache ? 'Driver shader caches left on (first-run times may reflect earlier runs).' : 'Driver shader caches off (MESA_SHADER_CACHE_DISABLE, __GL_SHADER_DISK_CACHE=0): load and first-run times are cold starts.',
    `Same input for every runtime: seeded N(0, 1) images, [batch, 3, 224, 224]; SqueezeNet and ShuffleNet are the real fp32 models from shared/models with the batch dimension made symbolic; ResNet-18/50 are full-size graphs with random weights (bench/resnet18.ts, tools/model-zoo.ts), identical bytes for every runtime.`,
    `TF.js runs the same graphs translated op by op into tf ops (bench/onnx-to-tf.ts: NHWC, BatchNorm folded, conv+Relu and matmul+bias fused), with the same weights: exact weights are not needed for a speed comparison, but they let the outputs be checked.`,
    `A cell shows '(n runs)' when fewer than ${r.settings.reps} timed runs fitted in ${r.settings.cellSeconds} s; 'skipped: est. N s/run' when a warm-up plus one run was estimated above ${r.settings.maxRunSeconds} s from the previous batch size.`,
    `Effective GFLOP/s counts 2 FLOPs per multiply-add of Conv/Gemm/MatMul in the specialised graph (bench/flops.ts), divided by our time per image.`,
  ];
  if (agree.length) notes.push(`Output check, batch 1, max |difference| / max |${PEER_NAMES[refPeer]}|: ${agree.join('; ')}.`);
  lines.push(...notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}

/** Replaces this adapter's bench section of the results file (keeps the others). */
export function spliceResults(path: string, adapter: string, section: string): void {
  spliceSection(path, 'bench', adapter, section);
}
