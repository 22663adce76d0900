/**
 * `npm run bench:queue`: images per second of a dataset run over shared ImageNet photos, on one
 * machine (`explain --images`) and through the BullMQ queue with one and with two workers on this
 * machine, plus the queue's own cost per job. Starts its own redis-server (Debian's, installed by
 * tools/setup-gpu.sh --redis) on a free loopback port. Written to bench/RESULTS.md per adapter.
 *
 * Every run starts a fresh process, so each pays the model load once; "steady" rates leave out
 * each process's first image (one machine) or first job (workers), which carry the load and the
 * first-use kernel tuning, and "end to end" includes them.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { freePort, REDIS_SERVER, RedisServer } from '../test/helpers/redis.js';
import { spliceSection } from './results-file.js';
import type { ChunkResult, JobData } from '../tools/dataset/queue/jobs.js';

const { values } = parseArgs({ options: {
  images: { type: 'string', default: '24' }, chunk: { type: 'string', default: '4' }, method: { type: 'string', default: 'gradcam' },
  model: { type: 'string', default: resolve('..', 'shared', 'models', 'squeezenet1.1-fp32.onnx') },
  dir: { type: 'string', default: resolve('..', 'shared', 'images', 'imagenet-val') },
} });
const N = Number(values.images), CHUNK = Number(values.chunk);
if (!REDIS_SERVER) throw new Error('no redis-server: run bash tools/setup-gpu.sh --redis');
const NODE = [process.execPath, '--import', 'tsx', 'tools/cli.ts'];

function run(args: string[]): Promise<{ stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => execFile(NODE[0]!, [...NODE.slice(1), ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
    if (err && !/^done:/m.test(stdout)) rej(new Error(`${args.join(' ')}: ${stderr}`)); else res({ stdout, stderr, ms: performance.now() - t0 });
  }));
}
function worker(url: string, queue: string, id: string): Promise<number> {
  return new Promise((res) => {
    const p = spawn(NODE[0]!, [...NODE.slice(1), 'worker', '--redis', url, '--queue', queue, '--id', id, '--exit-when-idle', '1', '--stalled-ms', '5000'], { stdio: 'ignore' });
    p.once('exit', (code) => res(code ?? -1));
  });
}

const load = loadavg()[0]!;
const tmp = mkdtempSync(join(tmpdir(), 'bench-queue-'));
const photos = readdirSync(values.dir).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, N);
if (photos.length < N) throw new Error(`${values.dir} has only ${photos.length} photos`);
const list = join(tmp, 'images.txt');
writeFileSync(list, photos.map((f) => join(values.dir, f)).join('\n') + '\n');
const common = ['--model', values.model, '--method', values.method];

mkdirSync(join(tmp, 'redis'));
const redis = new RedisServer(await freePort(), join(tmp, 'redis'));
await redis.start();
try {
  // Warm-up: fills the kernel tuning cache, so no measured run pays first-use tuning.
  writeFileSync(join(tmp, 'warm.txt'), `${join(values.dir, photos[0]!)}\n`);
  await run(['explain', '--images', join(tmp, 'warm.txt'), ...common, '--out', join(tmp, 'warm')]);
  // One machine.
  const one = await run(['explain', '--images', list, ...common, '--out', join(tmp, 'one')]);
  const adapter = /^adapter: (.*?); model loaded/m.exec(one.stdout)?.[1] ?? 'unknown adapter';
  // Steady as for the workers: images after the first, over the time from the first result to the last.
  const at = readFileSync(join(tmp, 'one', 'index.jsonl'), 'utf8').trim().split('\n').map((l) => Date.parse((JSON.parse(l) as { at: string }).at));
  const oneRun = { e2e: N / (one.ms / 1000), steady: (N - 1) / ((at[at.length - 1]! - at[0]!) / 1000) };

  // Queue with 1 and 2 workers.
  const queueRuns: { workers: number; e2e: number; steady: number; perJobMs: number; jobs: number }[] = [];
  for (const workers of [1, 2]) {
    const name = `bench-${workers}`;
    const out = join(tmp, `q${workers}`);
    const start = Date.now();
    await run(['queue', 'submit', '--redis', redis.url, '--queue', name, '--images', list, ...common, '--out', out, '--chunk', String(CHUNK)]);
    const codes = await Promise.all(Array.from({ length: workers }, (_, i) => worker(redis.url, name, `w${i + 1}`)));
    if (codes.some((c) => c !== 0)) throw new Error(`a worker exited with ${codes.join(', ')}`);
    // The idle check (1 s) is not the run's time: end at the last job's finish.
    const q = new Queue<JobData, ChunkResult>(name, { connection: { host: '127.0.0.1', port: redis.port } });
    const jobs = (await q.getJobs(['completed'], 0, -1)).sort((a, b) => a.processedOn! - b.processedOn!);
    await q.close();
    if (jobs.length !== Math.ceil(N / CHUNK)) throw new Error(`${jobs.length} jobs completed`);
    const end = Math.max(...jobs.map((j) => j.finishedOn!));
    const e2eS = (end - start) / 1000;
    // Steady: per worker, images of its jobs after the first, over the time from its first job's end to its last's.
    let steady = 0, gapsMs = 0, gaps = 0;
    for (const w of new Set(jobs.map((j) => j.returnvalue.worker))) {
      const mine = jobs.filter((j) => j.returnvalue.worker === w);
      if (mine.length < 2) continue;
      const span = mine[mine.length - 1]!.finishedOn! - mine[0]!.finishedOn!;
      steady += mine.slice(1).reduce((a, j) => a + j.returnvalue.images, 0) / (span / 1000);
      // Queue cost per job: time in the job outside the explanations, plus the wait before the next job starts.
      for (let k = 1; k < mine.length; k++) {
        gapsMs += (mine[k]!.processedOn! - mine[k - 1]!.finishedOn!) + (mine[k]!.finishedOn! - mine[k]!.processedOn! - mine[k]!.returnvalue.ms);
        gaps++;
      }
    }
    queueRuns.push({ workers, e2e: N / e2eS, steady, perJobMs: gapsMs / Math.max(1, gaps), jobs: jobs.length });
  }

  const commit = await new Promise<string>((res) => execFile('git', ['rev-parse', '--short', 'HEAD'], (e, o) => res(e ? 'unknown' : o.trim())));
  const dirty = await new Promise<boolean>((res) => execFile('git', ['status', '--porcelain'], (e, o) => res(!e && o.trim().length > 0)));
  const f = (x: number) => x.toFixed(2);
  const [q1, q2] = queueRuns as [typeof queueRuns[0], typeof queueRuns[0]];
  const section = [
    `## ${adapter}: dataset runs, one machine against BullMQ workers`,
    '',
    `${new Date().toISOString().slice(0, 10)}, commit ${commit}${dirty ? ' + local changes' : ''}; \`npm run bench:queue\`: ${values.method} on ${N} photos of ${values.dir.split('/').slice(-2).join('/')} with ${values.model.split('/').pop()}, queue jobs of ${CHUNK} images, Redis ${readRedisVersion()} on loopback. A one-image run first fills the kernel tuning cache. End to end: from the start of the run (process start, model load, submit) to the last result. Steady: images after each process's first image or job (model load) over the time from that one's result to the last. Queue cost per job: a worker's time per job outside the explanations plus its wait for the next job.`,
    '',
    '| run | images/s end to end | images/s steady | vs one machine (steady) | queue cost per job |',
    '|---|---:|---:|---:|---:|',
    `| one machine (\`explain --images\`) | ${f(oneRun.e2e)} | ${f(oneRun.steady)} | 1.00x | - |`,
    `| queue, 1 worker | ${f(q1.e2e)} | ${f(q1.steady)} | ${f(q1.steady / oneRun.steady)}x | ${q1.perJobMs.toFixed(0)} ms |`,
    `| queue, 2 workers | ${f(q2.e2e)} | ${f(q2.steady)} | ${f(q2.steady / oneRun.steady)}x | ${q2.perJobMs.toFixed(0)} ms |`,
    '',
    `Two workers against one: ${f(q2.steady / q1.steady)}x steady, ${f(q2.e2e / q1.e2e)}x end to end.` +
    (/llvmpipe|swiftshader|software/i.test(adapter)
      ? ' On this software adapter both workers share the same CPU cores (the rasteriser is the GPU), so a second worker cannot add compute: the ratio shows the queue\'s overhead and contention, not the scaling of one worker per real GPU.'
      : '') +
    ` Load average at the start: ${load.toFixed(1)} on ${cpus().length} cores${load > 0.5 ? ' (other processes were running: the numbers move between runs)' : ''}.`,
  ].join('\n');
  spliceSection('bench/RESULTS.md', 'bench-queue', adapter, section);
  console.log(section);
} finally {
  await redis.stop();
  rmSync(tmp, { recursive: true, force: true });
}

function readRedisVersion(): string {
  try { return /v=(\S+)/.exec(execFileSync(REDIS_SERVER!, ['--version']).toString())?.[1] ?? '?'; } catch { return '?'; }
}
