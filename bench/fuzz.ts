/**
 * `npm run fuzz -- --cases 5000 [--seed 17] [--timeout 30000] [--no-write] [--json results.json]`: the structure-aware
 * fuzz run of test/fuzz.test.ts at any size, with onnxruntime-node as the oracle, summarised in
 * bench/RESULTS.md (typed errors by class, loaded, agreed with onnxruntime, hangs, crashes).
 *
 * Cases run in a worker process that reports each result as one JSON line. A worker that prints
 * nothing for the case timeout plus a margin is killed (a hang: a synchronous loop cannot be
 * timed out from inside), one that dies is a crash; either way a fresh worker goes on from the
 * next case, so one bad file cannot end the run or hide the rest.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { spliceSection } from './results-file.js';
import { OVERFLOW_RANGE, type CaseResult } from '../test/helpers/fuzz-oracle.js';

const HERE = dirname(fileURLToPath(import.meta.url));

interface Settings { cases: number; seed: number; timeoutMs: number }

function args(argv: string[]): Settings & { write: boolean; worker?: number } {
  const get = (k: string, d: number) => { const i = argv.indexOf(k); if (i < 0) return d; const v = Number(argv[i + 1]); if (!Number.isInteger(v) || v < 0) throw new Error(`${k} needs a non-negative integer`); return v; };
  const w = argv.indexOf('--worker');
  return { cases: get('--cases', 1000), seed: get('--seed', 17), timeoutMs: get('--timeout', 30_000), write: !argv.includes('--no-write'), worker: w >= 0 ? Number(argv[w + 1]) : undefined };
}

/** Case i: base model i % B, the floor(i / B)-th mutation of that base's sequence (B bases). */
async function worker(s: Settings, from: number): Promise<void> {
  const [{ FUZZ_BASES }, { mutatedModelsWithKinds }, { runCase }, { createNodeGpu }] = await Promise.all([
    import('../test/helpers/fuzz-bases.js'), import('../test/helpers/fuzz.js'), import('../test/helpers/fuzz-oracle.js'), import('../src/node.js')]);
  const gpu = await createNodeGpu();
  process.stdout.write(`${JSON.stringify({ adapter: gpu.adapterName })}\n`);
  const bases = FUZZ_BASES();
  const perBase = Math.ceil(s.cases / bases.length);
  const muts = bases.map((b, k) => mutatedModelsWithKinds(b.bytes, perBase, s.seed + k));
  for (let i = from; i < s.cases; i++) {
    const m = muts[i % bases.length]![Math.floor(i / bases.length)];
    if (!m) continue;
    process.stdout.write(`${JSON.stringify({ start: i, kind: m.kind })}\n`);
    const r = await runCase(m.bytes, m.kind, gpu, { timeoutMs: s.timeoutMs, seed: i });
    process.stdout.write(`${JSON.stringify({ i, r })}\n`);
  }
  gpu.destroy();
}

/** Runs workers from case 0 to the end; returns every result (hangs and crashes included). */
async function drive(s: Settings): Promise<{ results: CaseResult[]; adapter: string }> {
  const results: CaseResult[] = [];
  let adapter = 'unknown adapter';
  let next = 0;
  while (next < s.cases) {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--worker', String(next),
      '--cases', String(s.cases), '--seed', String(s.seed), '--timeout', String(s.timeoutMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let current: { i: number; kind: string } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let hung = false;
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, s.timeoutMs + 60_000); };
    arm();
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let msg: { adapter?: string; start?: number; kind?: string; i?: number; r?: CaseResult };
      try { msg = JSON.parse(line); } catch { return; }
      arm();
      if (msg.adapter) adapter = msg.adapter;
      if (msg.start !== undefined) current = { i: msg.start, kind: msg.kind! };
      if (msg.r && msg.i !== undefined) {
        results.push(msg.r);
        current = undefined;
        next = msg.i + 1;
        if (results.length % 250 === 0) process.stderr.write(`fuzz: ${results.length}/${s.cases}\n`);
      }
    });
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    clearTimeout(timer);
    if (current) {
      results.push({ kind: current.kind, ours: hung ? 'hang' : 'untyped', errorClass: hung ? undefined : 'crash', message: hung ? undefined : `worker exited with ${code}`, ort: 'not-tried' });
      next = current.i + 1;
    } else if (code !== 0 && next < s.cases) {
      throw new Error(`fuzz worker failed before case ${next} (exit ${code})`);
    }
  }
  return { results, adapter };
}

function table(results: CaseResult[], s: Settings, adapter: string, command: string): string {
  const count = (f: (r: CaseResult) => boolean) => results.filter(f).length;
  const crashes = count((r) => r.errorClass === 'crash');
  const rows: [string, number][] = [
    ['cases', results.length],
    ['refused by us with a typed error', count((r) => r.ours === 'refused')],
    ['loaded and ran here', count((r) => r.ours === 'ran')],
    ['loaded, not run (input over 2^20 values)', count((r) => r.ours === 'skipped')],
    ['both ran', count((r) => r.ours === 'ran' && r.ort === 'ran')],
    ['both ran and agreed within 1e-3 of the output scale', count((r) => r.ours === 'ran' && r.ort === 'ran' && r.agreed === true)],
    ['both ran and disagreed', count((r) => r.ours === 'ran' && r.ort === 'ran' && r.agreed === false && !r.overflow && !r.ortNaN)],
    ['both ran, NaN in onnxruntime where ours is finite, elsewhere agreed (WGSL may assume no NaN)', count((r) => r.ours === 'ran' && r.ort === 'ran' && r.agreed === false && r.ortNaN === true && !r.overflow)],
    [`both ran, outputs beyond ${OVERFLOW_RANGE} (float32 overflow range) and different`, count((r) => r.ours === 'ran' && r.ort === 'ran' && r.agreed === false && r.overflow === true)],
    ['ran here, refused by onnxruntime', count((r) => r.ours === 'ran' && r.ort === 'refused')],
    ['refused here, loaded by onnxruntime', count((r) => r.ours === 'refused' && r.ort === 'ran')],
    ['untyped errors', count((r) => r.ours === 'untyped' && r.errorClass !== 'crash')],
    ['hangs', count((r) => r.ours === 'hang')],
    ['crashes (worker died)', crashes],
  ];
  const byClass = new Map<string, number>();
  for (const r of results) if (r.ours === 'refused') byClass.set(r.errorClass ?? '?', (byClass.get(r.errorClass ?? '?') ?? 0) + 1);
  const byKind = new Map<string, { n: number; refused: number; ran: number; agreed: number; ortOnly: number }>();
  for (const r of results) {
    for (const k of new Set(r.kind.split('+'))) {
      const e = byKind.get(k) ?? { n: 0, refused: 0, ran: 0, agreed: 0, ortOnly: 0 };
      e.n++;
      if (r.ours === 'refused') e.refused++;
      if (r.ours === 'ran' && r.ort === 'ran') e.ran++;
      if (r.agreed) e.agreed++;
      if (r.ours === 'refused' && r.ort === 'ran') e.ortOnly++;
      byKind.set(k, e);
    }
  }
  const bad = results.filter((r) => r.ours === 'untyped' || r.ours === 'hang' || (r.agreed === false && !r.overflow && !r.ortNaN));
  const load = os.loadavg()[0]!.toFixed(1);
  return [
    `## ${adapter}: fuzzing against onnxruntime-node`,
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${codeVersion() ?? ''} · Node ${process.version} · \`${command}\` · seed ${s.seed}, ${s.timeoutMs / 1000} s per case · load average ${load} (${os.cpus().length} CPUs)`,
    '',
    'Mutations of four small models (ResNet-50, MobileNetV2, EfficientNet-B0 and DenseNet-121 shapes at 16x16 or 32x32, 4 classes; test/helpers/fuzz-bases.ts): byte-level damage and structure-aware changes (test/helpers/fuzz.ts).',
    'The rule: every case is a typed refusal by us, or, where both runtimes run it, outputs within 1e-3 of onnxruntime\'s output scale.',
    '',
    '| outcome | cases |', '|---|---:|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '| typed error | cases |', '|---|---:|',
    ...[...byClass].sort((a, b) => b[1] - a[1]).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '| mutation (cases may stack several) | cases | refused here | both ran | agreed | refused here, loaded by onnxruntime |', '|---|---:|---:|---:|---:|---:|',
    ...[...byKind].sort((a, b) => a[0].localeCompare(b[0])).map(([k, e]) => `| ${k} | ${e.n} | ${e.refused} | ${e.ran} | ${e.agreed} | ${e.ortOnly} |`),
    ...(bad.length ? ['', 'Cases that broke the rule:', '', ...bad.slice(0, 20).map((r) => `- ${r.kind}: ${r.ours}${r.errorClass ? ` ${r.errorClass}` : ''}${r.message ? `: ${r.message}` : ''}${r.agreed === false ? ` (max relative error ${r.maxRelErr})` : ''}`)] : []),
  ].join('\n');
}

function codeVersion(): string | undefined {
  try {
    const git = (...a: string[]) => execFileSync('git', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return `commit ${head}${git('status', '--porcelain', '--untracked-files=no') ? ' + local changes' : ''}`;
  } catch { return undefined; }
}

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  if (a.worker !== undefined) { await worker(a, a.worker); return; }
  const t0 = performance.now();
  const { results, adapter } = await drive(a);
  const command = `npm run fuzz -- --cases ${a.cases}${a.seed !== 17 ? ` --seed ${a.seed}` : ''}`;
  const md = `${table(results, a, adapter, command)}\n\nTook ${((performance.now() - t0) / 1000).toFixed(0)} s.`;
  console.log(md);
  if (a.write) spliceSection(join(HERE, 'RESULTS.md'), 'fuzz', adapter, md);
  const j = process.argv.indexOf('--json');
  if (j >= 0) writeFileSync(process.argv[j + 1]!, JSON.stringify(results, null, 1));
  const broken = results.filter((r) => r.ours === 'untyped' || r.ours === 'hang' || (r.agreed === false && !r.overflow && !r.ortNaN)).length;
  process.exitCode = broken ? 1 : 0;
}

await main();
