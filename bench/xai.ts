/**
 * Benchmark of the explanation methods: time per explanation of SISE, Ada-SISE, Score-CAM and
 * Grad-CAM on SqueezeNet, ShuffleNet (../shared/models) and a full-size random-weight ResNet-50 on a
 * real photo, masked forward passes per second, the Ada-SISE / SISE ratios, the share of time spent
 * outside the forward passes, and the same SISE driven through onnxruntime-web's WebGPU EP with the
 * mask arithmetic in JavaScript (our α selection and feature maps handed over; maps compared by
 * Spearman). webgpu-xai and onnxruntime-web each run in their own child process. Results go to
 * bench/RESULTS.md as this adapter's `bench-xai` section (forward-benchmark sections untouched).
 *
 *   npm run bench:xai -- [--quick] [--models squeezenet,shufflenet,resnet50] [--methods sise,ada-sise,scorecam,gradcam]
 *                        [--batch 32] [--reps 3] [--cell-seconds 60] [--mu 0] [--no-peer] [--peer-reps N]
 *                        [--image PATH] [--results PATH] [--json PATH] [--models-dir DIR] [--child-timeout S]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir, cpus } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { findModelsDir, loadBenchModel, type ModelName } from './models.js';
import type { ModelSpec } from './types.js';
import type { XaiSettings } from './xai-child.js';
import { spliceSection } from './results-file.js';
import { runBenchChild } from './child-process.js';

const XAI_MODELS = ['squeezenet', 'shufflenet', 'resnet50'] as const;
const XAI_METHODS = ['sise', 'ada-sise', 'scorecam', 'gradcam'] as const;
const DEFAULT_IMAGE = 'ILSVRC2012_val_00000003.JPEG';

const HELP = `usage: bench-xai [--quick] [options]
  --quick            sized for a 2-core software adapter (~10 min): squeezenet, sise,ada-sise,gradcam,
                     batch 8, mu 0.5, 1 timed run per cell, ort-web peer 1 run
  --models LIST      ${XAI_MODELS.join(',')} (default: all; quick: squeezenet)
  --methods LIST     ${XAI_METHODS.join(',')} (default: all; quick: no scorecam)
  --batch N          masked forward passes per batch, ours and ort-web alike (default 32, quick 8)
  --mu X             SISE's gradient threshold ratio (default 0 = the paper's SISE; quick 0.5)
  --reps N           timed explanations per cell after a warm-up explanation (default 3, quick 1)
  --cell-seconds S   per-cell time budget: stop repeating after S s (at least one timed run); an
                     explanation whose warm-up alone exceeds S is reported from that one cold run
                     (default 60, quick 45)
  --no-peer          skip the onnxruntime-web SISE peer
  --peer-reps N      timed peer explanations (default --reps; quick 1)
  --image PATH       photo to explain (default ../shared/images/imagenet-val/${DEFAULT_IMAGE})
  --child-timeout S  seconds before a child process is killed (default 1800)
  --tag NAME         keep this run in its own section (adapter + NAME), beside the untagged one:
                     for a model too slow to run with the others on this adapter
  --json PATH        raw records as JSON
  --results PATH     Markdown results file (default bench/RESULTS.md, or RESULTS.md next to a bundle)
  --models-dir DIR   the shared models (default ../shared/models)`;

interface Options extends Omit<XaiSettings, 'handoff' | 'image'> {
  quick: boolean; models: ModelName[]; peer: boolean; image: string; results: string; json?: string; modelsDir: string; childTimeout: number; tag?: string;
}

function parse(argv: string[]): Options {
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const has = (k: string) => argv.includes(k);
  if (has('--help') || has('-h')) { console.log(HELP); process.exit(0); }
  const quick = has('--quick');
  const list = <T extends string>(k: string, all: readonly T[], dflt: readonly T[]): T[] => {
    const v = get(k);
    if (!v) return [...dflt];
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    for (const x of xs) if (!all.includes(x as T)) throw new Error(`${k}: unknown '${x}' (choose from ${all.join(', ')})`);
    return xs as T[];
  };
  const num = (k: string, d: number, min = 0, int = false) => {
    const v = get(k); const n = v === undefined ? d : Number(v);
    if (!(n >= min) || (int && !Number.isInteger(n))) throw new Error(`${k} must be ${int ? 'an integer' : 'a number'} >= ${min}`);
    return n;
  };
  const modelsDir = findModelsDir(get('--models-dir'));
  const scriptDir = dirname(process.argv[1] ?? '.');
  const results = get('--results') ?? (existsSync(resolve('bench/xai.ts')) || existsSync(resolve('bench/RESULTS.md')) ? resolve('bench/RESULTS.md') : join(scriptDir, 'RESULTS.md'));
  const reps = num('--reps', quick ? 1 : 3, 1, true);
  const mu = num('--mu', quick ? 0.5 : 0);
  if (mu > 1) throw new Error('--mu must be in [0, 1]');
  return {
    quick, results, json: get('--json'), modelsDir,
    models: list('--models', XAI_MODELS, quick ? ['squeezenet'] : XAI_MODELS),
    // Quick (sized for a 2-core software adapter, ~10 min): Score-CAM's 1000 masks on SqueezeNet
    // (~0.3 s each there) do not fit, and batch 8 wastes fewer padded rows on few masks per layer.
    methods: list('--methods', XAI_METHODS, quick ? ['sise', 'ada-sise', 'gradcam'] : XAI_METHODS),
    batch: num('--batch', quick ? 8 : 32, 1, true), reps, mu,
    peerReps: num('--peer-reps', quick ? 1 : reps, 1, true),
    cellSeconds: num('--cell-seconds', quick ? 45 : 60, 1),
    peer: !has('--no-peer'),
    image: resolve(get('--image') ?? join(modelsDir, '../images/imagenet-val', DEFAULT_IMAGE)),
    childTimeout: num('--child-timeout', 1800, 1),
    tag: get('--tag'),
  };
}


// ---------------------------------------------------------------------------------------------
// Report

type Rec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const fmt = (x: number) => (!Number.isFinite(x) ? '?' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '');
const esc = (s: string) => String(s).replace(/\|/g, '/').replace(/\s+/g, ' ');
const METHOD_NAMES: Record<string, string> = { sise: 'SISE', 'ada-sise': 'Ada-SISE', scorecam: 'Score-CAM', gradcam: 'Grad-CAM' };

export function buildXaiSection(o: { adapter: string; date: string; command: string; opts: Options; models: ModelSpec[]; records: Rec[]; failures: Record<string, string>; load: [number, number] }): string {
  const { opts, records: R } = o;
  const find = (pred: (r: Rec) => boolean) => R.find(pred);
  const L: string[] = [];
  L.push(`## ${o.adapter}${o.opts.tag ? ` (${o.opts.tag})` : ''}`, '');
  L.push(`${o.date} · Node ${process.version} · \`${o.command}\` · batch ${opts.batch} · SISE μ = ${opts.mu}${opts.mu === 0 ? ' (the paper\'s SISE)' : ''} · ${opts.reps} timed explanation(s) per cell after a warm-up, ${opts.cellSeconds} s budget per cell · image \`${basename(opts.image)}\` · load average ${o.load[0].toFixed(1)} at start, ${o.load[1].toFixed(1)} at end (${cpus().length} CPUs)`, '');
  for (const [p, why] of Object.entries(o.failures)) L.push(`**${p} child failed: ${esc(why)}** (what it measured before is kept).`, '');

  L.push('webgpu-xai, time per explanation (whole call: classify, gradients, masked passes, fusion; median):', '');
  L.push('| model | method | masked passes | s / explanation | masked passes/s | forward-only img/s at batch | outside forward passes | … counting padded batch rows as forward | phases, s |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
  const ratios: string[] = [];
  for (const m of o.models) {
    const fw = find((r) => r.type === 'forward' && r.peer === 'ours' && r.model === m.name);
    const info = find((r) => r.type === 'model' && r.peer === 'ours' && r.model === m.name);
    for (const method of opts.methods) {
      const c = find((r) => r.type === 'cell' && r.model === m.name && r.method === method);
      const label = `${m.label}${info ? '' : ''}`;
      if (!c) { const f = find((r) => r.type === 'failed' && r.peer === 'ours' && r.model === m.name && !r.what); L.push(`| ${label} | ${METHOD_NAMES[method]} | | ${f ? `failed: ${esc(f.reason)}` : 'not run'} | | | | | |`); continue; }
      if (c.status !== 'ok') { L.push(`| ${label} | ${METHOD_NAMES[method]} | | failed: ${esc(c.reason)} | | | | | |`); continue; }
      const t = c.medianMs as number;
      const phase = (c.timings['masked passes'] as number | undefined);
      const rate = c.masked > 0 && phase ? (1000 * c.masked) / phase : NaN;
      const per = fw?.perImageMs as number | undefined;
      const outside = c.masked > 0 && per ? 1 - (c.masked * per) / t : NaN;
      const outsideB = c.masked > 0 && fw ? 1 - (c.batches * fw.batchMs) / t : NaN;
      const runs = c.cold ? ' (1 cold run)' : c.times.length < opts.reps ? ` (${c.times.length} run${c.times.length > 1 ? 's' : ''})` : '';
      const passes = method === 'sise' || method === 'ada-sise' ? `${c.masked} (${(c.layerMasks as number[]).join('+')})` : method === 'gradcam' ? '0' : `${c.masked}`;
      const phases = Object.entries(c.timings as Record<string, number>).map(([k, v]) => `${k} ${fmt(v / 1000)}`).join(', ');
      L.push(`| ${label} | ${METHOD_NAMES[method]} | ${passes} | ${fmt(t / 1000)}${runs} | ${c.masked > 0 ? fmt(rate) : ''} | ${fw && c.masked > 0 ? fmt((1000 * opts.batch) / fw.batchMs) : ''} | ${pct(outside)} | ${pct(outsideB)} | ${phases} |`);
    }
    const s = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'sise' && r.status === 'ok');
    const a = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'ada-sise' && r.status === 'ok');
    if (s && a) ratios.push(`${m.label}: time ${fmt(a.medianMs / s.medianMs)}, masked passes ${fmt(a.masked / s.masked)} (${a.masked} / ${s.masked})`);
  }
  L.push('');
  if (ratios.length) L.push(`**Ada-SISE / SISE (μ = ${opts.mu})**: ${ratios.join('; ')}. (The paper: Ada-SISE up to 30 % less time than SISE at μ = 0.)`, '');

  if (opts.peer && opts.methods.includes('sise')) {
    const dev = find((r) => r.type === 'device' && r.peer === 'ort-web');
    L.push(`Same SISE (μ = ${opts.mu}) with the forward passes on ${dev ? esc(dev.label) : 'onnxruntime-web WebGPU EP'}${dev?.initMs !== undefined ? ` (one-time initialisation ${fmt(dev.initMs / 1000)} s, not counted)` : ''} at batch ${opts.batch} and the mask arithmetic (up-sampling, normalisation, masking, score weighting, fusion) in JavaScript; channels and feature maps are webgpu-xai's (ort-web gives no gradients), so the gradient phase is not in its time. Compared with webgpu-xai's SISE call without its classify and gradient phases:`, '');
    L.push(`| model | masked passes | webgpu-xai masked passes + fusion, s | ort-web + JS, s / explanation | of which ort-web forward, s | JS arithmetic, s | outside forward passes | ort-web forward-only img/s at batch | ours / peer speed-up | Spearman(ours, peer map) |`);
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const m of o.models) {
      const p = find((r) => r.type === 'peer-sise' && r.model === m.name);
      const fw = find((r) => r.type === 'forward' && r.peer === 'ort-web' && r.model === m.name);
      const s = find((r) => r.type === 'cell' && r.model === m.name && r.method === 'sise' && r.status === 'ok');
      if (!p) { L.push(`| ${m.label} | | | ${o.failures['ort-web'] ? `failed: ${esc(o.failures['ort-web'])}` : 'not run'} | | | | | | |`); continue; }
      if (p.status !== 'ok') { L.push(`| ${m.label} | | | failed: ${esc(p.reason)} | | | | | | |`); continue; }
      const oursPart = s ? ((s.timings['masked passes'] ?? 0) + (s.timings['fusion'] ?? 0)) : NaN;
      const outside = fw ? 1 - (p.batches * fw.batchMs) / p.medianMs : NaN;
      const runs = p.times.length > 1 ? ` (median of ${p.times.length})` : ' (1 run)';
      L.push(`| ${m.label} | ${p.maskedPasses}${p.selectionMatches ? '' : ' (selection differs from ours!)'} | ${fmt(oursPart / 1000)} | ${fmt(p.medianMs / 1000)}${runs} | ${fmt(p.forwardMs / 1000)} | ${fmt((p.jsMs + p.fusionMs) / 1000)} | ${pct(outside)} | ${fw ? fmt((1000 * opts.batch) / fw.batchMs) : ''} | ${fmt(p.medianMs / oursPart)}x | ${p.spearman.toFixed(4)}${p.spearman > 0.95 ? '' : ' (< 0.95!)'} |`);
    }
    L.push('');
  }

  const notes = [
    '**Outside forward passes** = 1 − (masked passes × per-image forward time) / time per explanation, where the per-image forward time is measured separately on the same adapter with the same execution plan the methods use (`model.plan` at the explanation batch, input written once, batches encoded and submitted back to back, then `onSubmittedWorkDone`), divided by the batch. It counts everything else as overhead: classify and gradient passes, mask making, masking, score reading, accumulation, fusion, read-backs, host work, and the idle rows of a last partial batch (the plan always runs the full batch). The next column counts those padded rows as forward time: 1 − (batches run × batch forward time) / time per explanation. Negative values mean the explanation\'s batches ran faster than the isolated forward measurement (timing noise, or cheaper masked inputs).',
    '**Masked passes/s** = masked forward passes / the explanation\'s "masked passes" phase (mask making, masking, forward, scoring, accumulation, all on the GPU). Forward-only img/s is the separate forward measurement at the same batch.',
    'Peer: the forward-only measurement and every batch of the explanation are `InferenceSession.run` calls with upload and read-back (the only way onnxruntime-web takes a JavaScript-built input); outside forward passes there = 1 − (batches × batch forward time) / time per explanation. Its first run at the explanation batch (shader compilation) happens before timing; no separate warm-up explanation.',
    'Spearman compares the peer\'s final fused map with webgpu-xai\'s SISE map (50 176 pixels, average ranks for ties); the peer uses exactly our selected channels (our α, μ rule) and our block feature maps, read back from our plan.',
    'Models: SqueezeNet 1.1 and ShuffleNet-v2 are the real fp32 models (batch dimension made symbolic, bench/models.ts), ResNet-50 is a full-size graph with random weights (tools/model-zoo.ts, seed 50): its gradients are arbitrary, so SISE\'s selected channel count (shown per block layer) says nothing about a trained ResNet-50. Class explained: each model\'s top-1 on the image; preprocessing guessed from the model (SqueezeNet: caffe BGR, the others: torchvision).',
  ];
  const dev = find((r) => r.type === 'device' && r.peer === 'ours');
  if (dev) notes.push(`Adapter: ${esc(dev.device)}.`);
  L.push(...notes.map((n) => `- ${n}`), '');
  return L.join('\n');
}

/** Replaces this adapter's bench-xai section of the results file (keeps the others). */
export function spliceXai(path: string, adapter: string, section: string): void {
  spliceSection(path, 'bench-xai', adapter, section);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--child')) {
    const get = (k: string) => argv[argv.indexOf(k) + 1]!;
    const { models, settings } = JSON.parse(readFileSync(get('--manifest'), 'utf8')) as { models: ModelSpec[]; settings: XaiSettings };
    const { runXaiChild } = await import('./xai-child.js');
    await runXaiChild(get('--child') as 'ours' | 'ort-web', models, get('--out'), settings);
    process.exit(0);
  }
  const o = parse(argv);
  if (!existsSync(o.image)) throw new Error(`image not found: ${o.image} (pass --image)`);
  const started = Date.now();
  const load0 = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-xai-bench-xai-'));
  try {
    const models: ModelSpec[] = [];
    for (const name of o.models) {
      const m = await loadBenchModel(name, o.modelsDir);
      const file = join(dir, `${name}.onnx`);
      writeFileSync(file, m.bytes);
      models.push({ name, label: m.label, file, inputName: m.inputName, chw: m.chw, weights: m.weights });
    }
    const handoff = join(dir, 'handoff'); mkdirSync(handoff);
    const settings: XaiSettings = { batch: o.batch, methods: o.methods, reps: o.reps, peerReps: o.peerReps, cellSeconds: o.cellSeconds, mu: o.mu, image: o.image, handoff };
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ models, settings }));
    const records: Rec[] = []; const failures: Record<string, string> = {};
    const peers = ['ours', ...(o.peer && o.methods.includes('sise') ? ['ort-web'] : [])];
    for (const p of peers) {
      const out = join(dir, `${p}.jsonl`);
      const t = Date.now();
      const f = await runBenchChild(p, manifest, out, o.childTimeout);
      if (f) failures[p] = f;
      if (existsSync(out)) for (const line of readFileSync(out, 'utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Rec);
      console.error(`[bench-xai] ${p} done in ${((Date.now() - t) / 1000).toFixed(0)} s${f ? ` (${f})` : ''}`);
    }
    const adapter = (records.find((r) => r.type === 'device' && r.peer === 'ours')?.device as string | undefined) ?? 'no WebGPU adapter';
    const command = `bench-xai ${argv.join(' ')}`.trim();
    const section = buildXaiSection({ adapter, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', command, opts: o, models, records, failures, load: [load0, loadavg()[0]!] });
    console.log(`\n${section}`);
    try { spliceXai(o.results, o.tag ? `${adapter} ${o.tag}` : adapter, section); console.error(`[bench-xai] wrote ${o.results}`); } catch (e) { console.error(`[bench-xai] could not write ${o.results}: ${(e as Error).message}`); }
    if (o.json) { writeFileSync(o.json, JSON.stringify({ adapter, date: new Date().toISOString(), command, options: o, failures, records }, null, 1)); console.error(`[bench-xai] wrote ${o.json}`); }
    console.error(`[bench-xai] total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
