/**
 * Benchmark: forward throughput of webgpu-xai, tuned (the kernel tuner, from an empty cache of
 * this run's own) and with the static chooser only, against onnxruntime-web (WebGPU EP),
 * TensorFlow.js (WebGPU backend) on the same Dawn adapter and onnxruntime-node on the CPU, plus the
 * adapter's matmul ceiling and the tuning time per model and batch. Each runtime runs in its own
 * child process (a native crash or a hang costs that runtime only, and every GPU object dies with
 * it); results go to bench/RESULTS.md (this adapter's section) and optionally to --json.
 *
 *   npm run bench -- [--quick] [--models squeezenet,shufflenet,resnet18,resnet18-int8,resnet50] [--batches 1,8,32]
 *                    [--peers ours,ours-static,ort-web,tfjs,ort-node] [--reps 5] [--cell-seconds 20]
 *                    [--max-run-seconds 60] [--peer-timeout 600] [--tune-budget 600] [--no-ceiling]
 *                    [--json out.json] [--results bench/RESULTS.md] [--models-dir ../shared/models]
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { MODEL_NAMES, findModelsDir, loadBenchModel, type ModelName } from './models.js';
import { PEER_IDS, type BenchSettings, type ModelSpec, type PeerId, type Record_ } from './types.js';
import type { ChildSettings } from './driver.js';
import { buildSection, spliceResults } from './report.js';

interface Options extends BenchSettings {
  models: ModelName[];
  peers: PeerId[];
  quick: boolean;
  json?: string;
  results: string;
  modelsDir: string;
  peerTimeout: number;
  shaderCache: boolean;
  /** The tuned peer's empty tuning cache folder (WEBGPU_XAI_CACHE_DIR of every child). */
  tuningDir?: string;
}

const HELP = `usage: bench [--quick] [--models LIST] [--batches LIST] [--peers LIST] [--reps N]
  --models      ${MODEL_NAMES.join(',')} (default: all)
  --batches     default 1,8,32 (quick: 1,8)
  --peers       ${PEER_IDS.join(',')} (default: all; ours = tuned, ours-static = tune: false)
  --reps        timed runs per cell after the warm-up (default 5, quick 3)
  --cell-seconds     stop repeating a cell after this long, keeping at least one run (default 15, quick 8)
  --max-run-seconds  skip a cell whose warm-up + one run is estimated above this (default 45, quick 25)
  --peer-timeout     seconds before a runtime's child process is killed (default 900, quick 400);
                     the tuned peer gets the tuning budget of every model and batch on top
  --tune-budget S    the tuned peer's tuning budget per model and batch, seconds (default 600): each
                     run tunes from an empty cache of its own, so this is cold tuning
  --shader-cache     keep the driver's on-disk shader cache (default off: cold, reproducible first runs)
  --no-ceiling  skip the matmul ceiling
  --json PATH   raw records and settings as JSON
  --results PATH     Markdown results file (default bench/RESULTS.md, or RESULTS.md next to a bundle)
  --models-dir PATH  the shared models (default ../shared/models)`;

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
  const num = (k: string, d: number) => { const v = get(k); const n = v === undefined ? d : Number(v); if (!(n > 0)) throw new Error(`${k} must be a positive number`); return n; };
  const batches = (get('--batches') ?? (quick ? '1,8' : '1,8,32')).split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1)) throw new Error('--batches: positive integers');
  const scriptDir = dirname(process.argv[1] ?? '.');
  const results = get('--results') ?? (existsSync(resolve('bench/run.ts')) || existsSync(resolve('bench/RESULTS.md')) ? resolve('bench/RESULTS.md') : join(scriptDir, 'RESULTS.md'));
  return {
    quick, batches,
    models: list('--models', MODEL_NAMES, quick ? ['squeezenet', 'resnet18', 'resnet18-int8'] : MODEL_NAMES),
    peers: list('--peers', PEER_IDS, PEER_IDS),
    reps: num('--reps', quick ? 3 : 5),
    cellSeconds: num('--cell-seconds', quick ? 8 : 15),
    maxRunSeconds: num('--max-run-seconds', quick ? 25 : 45),
    peerTimeout: num('--peer-timeout', quick ? 400 : 900),
    tuneBudgetMs: num('--tune-budget', 600) * 1000,
    ceiling: !has('--no-ceiling'),
    shaderCache: has('--shader-cache'),
    json: get('--json'), results,
    modelsDir: findModelsDir(get('--models-dir')),
  };
}

function childEnv(o: Options): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
  if (!o.shaderCache) { env.MESA_SHADER_CACHE_DISABLE = 'true'; env.__GL_SHADER_DISK_CACHE = '0'; }
  // Kernel-tuning choices go to this run's own (empty) folder: tuning is measured cold, and the
  // user's cache is neither read nor written.
  if (o.tuningDir) env.WEBGPU_XAI_CACHE_DIR = o.tuningDir;
  return env;
}

/** Runs one runtime in a child process (same script, `--child`), with a time limit. */
function runPeerProcess(peer: PeerId, manifest: string, out: string, o: Options): Promise<string | undefined> {
  const args = [...process.execArgv, process.argv[1]!, '--child', peer, '--manifest', manifest, '--out', out];
  const timeoutS = o.peerTimeout + (peer === 'ours' ? (o.tuneBudgetMs / 1000) * o.models.length * o.batches.length : 0);
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'], env: childEnv(o) });
    let tail = '';
    child.stderr.on('data', (d: Buffer) => { process.stderr.write(d); tail = (tail + d.toString()).slice(-2000); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, timeoutS * 1000);
    let timedOut = false;
    timer.unref();
    const onTimeout = setTimeout(() => { timedOut = true; }, timeoutS * 1000 - 50);
    onTimeout.unref();
    child.on('exit', (code, signal) => {
      clearTimeout(timer); clearTimeout(onTimeout);
      if (timedOut || signal === 'SIGKILL') return done(`timed out after ${timeoutS} s`);
      if (code === 0) return done(undefined);
      const last = tail.trim().split('\n').filter((l) => !l.startsWith('[')).pop() ?? '';
      done(`exited with ${signal ?? `code ${code}`}${last ? `: ${last.slice(0, 120)}` : ''}`);
    });
    child.on('error', (e) => done(`could not start: ${e.message}`));
  });
}

/** The commit under test, with '+ local changes' when the working tree differs from it. */
function codeVersion(): string | undefined {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head} + local changes` : head;
  } catch { return undefined; }
}

async function childMain(argv: string[]): Promise<void> {
  const get = (k: string) => argv[argv.indexOf(k) + 1]!;
  const { models, settings } = JSON.parse(readFileSync(get('--manifest'), 'utf8')) as { models: ModelSpec[]; settings: ChildSettings };
  const { runChild } = await import('./driver.js');
  await runChild(get('--child') as PeerId, models, get('--out'), settings);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--child')) {
    await childMain(argv);
    process.exit(0); // every GPU object was released by the peer's close(); exit even if a library left a handle
  }
  const o = parse(argv);
  const started = Date.now();
  const load0 = loadavg()[0]!;
  const code = codeVersion();
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-xai-bench-'));
  o.tuningDir = join(dir, 'tuning-cache');
  mkdirSync(o.tuningDir);
  try {
    const models: ModelSpec[] = [];
    for (const name of o.models) {
      const m = await loadBenchModel(name, o.modelsDir);
      const file = join(dir, `${name}.onnx`);
      writeFileSync(file, m.bytes);
      models.push({ name, label: m.label, file, inputName: m.inputName, chw: m.chw, weights: m.weights });
    }
    const settings: ChildSettings = {
      batches: o.batches, reps: o.reps, cellSeconds: o.cellSeconds, maxRunSeconds: o.maxRunSeconds, ceiling: o.ceiling, quick: o.quick,
      tuneBudgetMs: o.tuneBudgetMs, ceilingPeer: o.peers.includes('ours') || !o.peers.includes('ours-static') ? 'ours' : 'ours-static',
    };
    const manifest = join(dir, 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ models, settings }));
    const records: Record_[] = [];
    const peerFailures: Partial<Record<PeerId, string>> = {};
    for (const peer of o.peers) {
      const out = join(dir, `${peer}.jsonl`);
      const t = Date.now();
      const failure = await runPeerProcess(peer, manifest, out, o);
      if (failure) peerFailures[peer] = failure;
      if (existsSync(out)) for (const line of readFileSync(out, 'utf8').split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record_);
      console.error(`[bench] ${peer} done in ${((Date.now() - t) / 1000).toFixed(0)} s${failure ? ` (${failure})` : ''}`);
    }
    const devices = records.filter((r): r is Extract<Record_, { type: 'peer' }> => r.type === 'peer');
    const adapter = devices.find((d) => d.peer === 'ours')?.device ?? devices.find((d) => d.peer === 'ours-static')?.device ?? devices.find((d) => d.peer !== 'ort-node')?.device ?? 'no WebGPU adapter';
    const command = `bench ${argv.join(' ')}`.trim();
    const section = buildSection({ adapter, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', command, settings, models, peers: o.peers, records, peerFailures, shaderCache: o.shaderCache, load: [load0, loadavg()[0]!], ...(code ? { code } : {}) });
    console.log(`\n${section}`);
    try {
      spliceResults(o.results, adapter, section);
      console.error(`[bench] wrote ${o.results}`);
    } catch (e) { console.error(`[bench] could not write ${o.results}: ${(e as Error).message}`); }
    if (o.json) {
      writeFileSync(o.json, JSON.stringify({ adapter, date: new Date().toISOString(), node: process.version, code, command, settings, models: models.map(({ file: _f, ...m }) => m), peerFailures, records }, null, 1));
      console.error(`[bench] wrote ${o.json}`);
    }
    console.error(`[bench] total ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
