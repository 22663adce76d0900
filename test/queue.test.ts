/**
 * Dataset runs on one machine and through BullMQ workers, on a real redis-server started here and
 * the shared MNIST CNN with real digits: two workers with one SIGKILLed mid-job, Redis restarted
 * mid-run, a poisoned image, a one-machine run killed and resumed, a queued evaluate whose tables
 * equal the one-machine ones. Each image must end with one complete result and one index row.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { freePort, REDIS_SERVER, RedisServer } from './helpers/redis.js';
import { writeMnistDataset, writeMnistPngs } from './helpers/mnist-images.js';
import { createNodeGpu } from '../src/node.js';
import { runWorker } from '../tools/dataset/queue/worker.js';
import { DeviceLostError } from '../tools/dataset/explain-run.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODEL = join(ROOT, '..', 'shared', 'models', 'mnist-cnn.onnx');
// Node itself with tsx as a loader (not the tsx wrapper, which runs the CLI in a child process): a SIGKILL must reach the CLI.
const NODE = [process.execPath, '--import', 'tsx'];
const have = REDIS_SERVER !== undefined && existsSync(MODEL);

interface Result { code: number; stdout: string; stderr: string }
function cli(...args: string[]): Promise<Result> {
  return new Promise((res) => {
    execFile(NODE[0]!, [...NODE.slice(1), 'tools/cli.ts', ...args], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A CLI process in the background, its output collected. */
function spawnCli(...args: string[]): { p: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const p = spawn(NODE[0]!, [...NODE.slice(1), 'tools/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  p.stderr!.on('data', (b: Buffer) => { out += b.toString(); });
  const exit = new Promise<number | null>((res) => p.once('exit', (code, signal) => res(signal ? null : code)));
  return { p, out: () => out, exit };
}

interface Row { image: string; method: string; status: string; worker: string | null; error: string | null; files: string[] }
const rowsOf = (out: string): Row[] => (existsSync(join(out, 'index.jsonl')) ? readFileSync(join(out, 'index.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row) : []);

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every image has exactly one index row, 'ok', for `method`, and its three files are whole. */
function expectOneCompleteResult(out: string, images: string[], method: string): void {
  const rows = rowsOf(out);
  expect(rows.map((r) => r.image).sort()).toEqual([...images].sort());
  for (const r of rows) {
    expect(r.status, `${r.image}: ${r.error}`).toBe('ok');
    expect(r.method).toBe(method);
    expect(r.files).toEqual([`${r.image}.${method}.png`, `${r.image}.${method}.npy`, `${r.image}.${method}.json`]);
    const png = PNG.sync.read(readFileSync(join(out, r.files[0]!)));
    expect(png.height).toBe(28);
    expect(readFileSync(join(out, r.files[1]!)).length).toBe(128 + 28 * 28 * 4);
    expect(JSON.parse(readFileSync(join(out, r.files[2]!), 'utf8')).method).toBe(method);
  }
}

let tmp: string, redis: RedisServer, images: string, ids: string[];
const WORKER = ['--lock-ms', '3000', '--stalled-ms', '1000', '--exit-when-idle', '3'];
const RISE = ['--model', MODEL, '--method', 'rise', '--param', 'masks=1000', '--seed', '3'];

beforeAll(async () => {
  if (!have) return;
  tmp = mkdtempSync(join(tmpdir(), 'queue-test-'));
  mkdirSync(join(tmp, 'redis'));
  redis = new RedisServer(await freePort(), join(tmp, 'redis'));
  await redis.start();
  images = join(tmp, 'digits');
  ids = writeMnistPngs(images, 12).map((p) => p.slice(images.length + 1, -4));
});
afterAll(async () => {
  await redis?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!have)('dataset runs through BullMQ on a real Redis', () => {
  it('two workers, one SIGKILLed in the middle of a job: its job is taken up by the other, every image has one result and one row', async () => {
    const out = join(tmp, 'kill');
    const sub = await cli('queue', 'submit', '--redis', redis.url, '--queue', 'kill', '--images', images, ...RISE, '--out', out, '--chunk', '2');
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stdout).toMatch(/queued 6 jobs \(12 images/);
    const a = spawnCli('worker', '--redis', redis.url, '--queue', 'kill', '--id', 'A', ...WORKER);
    const b = spawnCli('worker', '--redis', redis.url, '--queue', 'kill', '--id', 'B', ...WORKER);
    // A has finished the first image of a chunk (chunks are digit pairs 00-01, 02-03, ...) and is on the second.
    let killedAfter = '';
    await until('a first-of-chunk row by A', () => {
      const r = rowsOf(out).find((x) => x.worker === 'A' && Number(x.image.slice(-2)) % 2 === 0);
      if (r) killedAfter = r.image;
      return r !== undefined;
    });
    a.p.kill('SIGKILL');
    expect(await a.exit).toBeNull();
    expect(await b.exit, b.out()).toBe(0);
    expectOneCompleteResult(out, ids, 'rise');
    const rows = rowsOf(out);
    // The killed job's first image was not redone; its second was finished by B.
    expect(rows.filter((r) => r.image === killedAfter)).toHaveLength(1);
    const partner = `digit-${String(Number(killedAfter.slice(-2)) + 1).padStart(2, '0')}`;
    expect(rows.find((r) => r.image === partner)!.worker).toBe('B');
    const st = await cli('queue', 'status', '--redis', redis.url, '--queue', 'kill', '--json');
    const s = JSON.parse(st.stdout) as { counts: Record<string, number>; imagesDone: number; workers: { worker: string; rate: number }[] };
    expect(s.counts).toMatchObject({ completed: 6, failed: 0, waiting: 0, active: 0 });
    expect(s.workers.map((w) => w.worker)).toContain('B');
    expect(s.workers.every((w) => w.rate > 0)).toBe(true);
    const text = await cli('queue', 'status', '--redis', redis.url, '--queue', 'kill');
    expect(text.stdout).toMatch(/6 done, 0 failed, 0 waiting/);
    expect(text.stdout).toMatch(/B\s+\d+ jobs\s+\d+ images\s+[\d.]+ images\/s/);
  }, 150_000);

  it('Redis restarted mid-run: the worker reconnects and the run completes, one row per image', async () => {
    const out = join(tmp, 'restart');
    expect((await cli('queue', 'submit', '--redis', redis.url, '--queue', 'restart', '--images', images, ...RISE, '--out', out, '--chunk', '2')).code).toBe(0);
    const w = spawnCli('worker', '--redis', redis.url, '--queue', 'restart', '--id', 'W', '--lock-ms', '20000', '--stalled-ms', '1000', '--exit-when-idle', '3');
    await until('two rows', () => rowsOf(out).length >= 2);
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();
    expect(await w.exit, w.out()).toBe(0);
    expectOneCompleteResult(out, ids, 'rise');
    expect(w.out()).toMatch(/redis: .*(ECONNREFUSED|Connection is closed)/);
  }, 150_000);

  it('a poisoned image ends in the failed set with its error after its retries; the rest complete; retry-failed requeues it', async () => {
    const dir = join(tmp, 'poison');
    writeMnistPngs(dir, 3);
    writeFileSync(join(dir, 'digit-01.png'), Buffer.from('\x89PNG\r\n\x1a\n truncated'));
    const out = join(tmp, 'poison-out');
    expect((await cli('queue', 'submit', '--redis', redis.url, '--queue', 'poison', '--images', dir, '--model', MODEL, '--method', 'gradcam', '--out', out, '--chunk', '2', '--attempts', '2', '--backoff-ms', '100')).code).toBe(0);
    const w = await cli('worker', '--redis', redis.url, '--queue', 'poison', ...WORKER);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/attempt 2\/2/);
    const rows = rowsOf(out);
    expect(rows.map((r) => `${r.image} ${r.status}`).sort()).toEqual(['digit-00 ok', 'digit-01 failed', 'digit-02 ok']);
    expect(rows.find((r) => r.status === 'failed')!.error).toMatch(/ImageDecodeError.*digit-01\.png/);
    const s = JSON.parse((await cli('queue', 'status', '--redis', redis.url, '--queue', 'poison', '--json')).stdout) as { counts: Record<string, number>; failed: { attempts: number; reason: string }[] };
    expect(s.counts).toMatchObject({ completed: 1, failed: 1 });
    expect(s.failed[0]!.attempts).toBe(2);
    expect(s.failed[0]!.reason).toMatch(/digit-01 gradcam: ImageDecodeError/);
    const retry = await cli('queue', 'retry-failed', '--redis', redis.url, '--queue', 'poison');
    expect(retry.stdout).toMatch(/moved 1 failed job back/);
    const again = JSON.parse((await cli('queue', 'status', '--redis', redis.url, '--queue', 'poison', '--json')).stdout) as { counts: Record<string, number> };
    expect(again.counts).toMatchObject({ failed: 0, waiting: 1 });
    // The image repaired, the retried job (its attempts reset) completes it; its last row is now 'ok'.
    writeMnistPngs(dir, 2);
    const w2 = await cli('worker', '--redis', redis.url, '--queue', 'poison', ...WORKER);
    expect(w2.stdout).toMatch(/attempt 1\/2/);
    const last = new Map(rowsOf(out).map((r) => [r.image, r.status]));
    expect([...last].sort()).toEqual([['digit-00', 'ok'], ['digit-01', 'ok'], ['digit-02', 'ok']]);
    expect(rowsOf(out).filter((r) => r.image === 'digit-00')).toHaveLength(1);
  }, 120_000);

  it('a one-machine run killed in the middle resumes: complete images are skipped, the rest done, one row each; the queue sees it complete', async () => {
    const out = join(tmp, 'resume');
    const run = spawnCli('explain', '--images', images, ...RISE, '--out', out);
    await until('three rows', () => rowsOf(out).length >= 3);
    run.p.kill('SIGKILL');
    await run.exit;
    const before = rowsOf(out).length;
    expect(before).toBeLessThan(12);
    const r = await cli('explain', '--images', images, ...RISE, '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${before} already complete, ${12 - before} to do`);
    expect(r.stdout).toMatch(new RegExp(`${12 - before} complete, 0 failed, ${before} skipped`));
    expect(r.stderr).toMatch(/ETA/);
    expectOneCompleteResult(out, ids, 'rise');
    // Other settings on the same folder are refused, not mixed in.
    const other = await cli('explain', '--images', images, '--model', MODEL, '--method', 'rise', '--param', 'masks=500', '--out', out);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/run\.json records a run with other settings/);
    // The queue resumes the same folder: nothing left to queue.
    const sub = await cli('queue', 'submit', '--redis', redis.url, '--queue', 'resume', '--images', images, ...RISE, '--out', out);
    expect(sub.stdout).toMatch(/queued 0 jobs \(0 images, 16 per job; 12 already complete/);
  }, 120_000);

  it('queue evaluate (a flow: chunk jobs, then a merge) writes the same tables as one-machine evaluate', async () => {
    const dir = join(tmp, 'eval');
    writeMnistDataset(dir, 6);
    const args = ['--images', dir, '--model', MODEL, '--methods', 'gradcam', '--step', '56'];
    const one = await cli('evaluate', ...args, '--out', join(tmp, 'eval-one'));
    expect(one.code, one.stderr).toBe(0);
    const sub = await cli('queue', 'evaluate', '--redis', redis.url, '--queue', 'eval', ...args, '--out', join(tmp, 'eval-q'), '--chunk', '2');
    expect(sub.stdout).toMatch(/3 chunk jobs \(6 images/);
    const w = await cli('worker', '--redis', redis.url, '--queue', 'eval', ...WORKER);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/evaluate-merge/);
    for (const f of ['evaluation.md', 'evaluation.csv']) expect(readFileSync(join(tmp, 'eval-q', f), 'utf8')).toBe(readFileSync(join(tmp, 'eval-one', f), 'utf8'));
    expect(readFileSync(join(tmp, 'eval-q', 'evaluation.csv'), 'utf8').trim().split('\n')).toHaveLength(1 + 6 * 3);
    expect(readdirSync(join(tmp, 'eval-q')).sort()).toEqual(['evaluation-rows.jsonl', 'evaluation-run.json', 'evaluation.csv', 'evaluation.md']);
  }, 120_000);

  it('a worker whose GPU device is lost fails its job and stops with a clear error; another worker completes the job', async () => {
    const dir = join(tmp, 'lost');
    const paths = writeMnistPngs(dir, 4);
    const out = join(tmp, 'lost-out');
    expect((await cli('queue', 'submit', '--redis', redis.url, '--queue', 'lost', '--images', dir, '--model', MODEL, '--method', 'gradcam', '--out', out, '--chunk', '2', '--backoff-ms', '100')).code).toBe(0);
    // This worker runs in the test process on a device the test owns, and loses it after its first job.
    const gpu = await createNodeGpu();
    const lines: string[] = [];
    let first = true;
    const run = runWorker({
      connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null }, queue: 'lost', id: 'L', lockMs: 5000, stalledMs: 1000, exitWhenIdleMs: 0, gpu,
      log: (l) => {
        lines.push(l);
        if (first && / done$/.test(l)) { first = false; gpu.device.destroy(); }
      },
    });
    await expect(run).rejects.toThrow(DeviceLostError);
    await expect(run).rejects.toThrow(/GPU device was lost .*this process stops/);
    expect(lines.some((l) => /failed: .*GPU device was lost/.test(l))).toBe(true);
    gpu.destroy();
    const b = await cli('worker', '--redis', redis.url, '--queue', 'lost', '--id', 'B', ...WORKER);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/attempt 2\/3/);
    expectOneCompleteResult(out, paths.map((p) => p.slice(dir.length + 1, -4)), 'gradcam');
    expect(new Set(rowsOf(out).map((r) => r.worker))).toEqual(new Set(['L', 'B']));
  }, 120_000);

  it('bad arguments exit 2 with a message; an unreachable Redis exits 1 saying so instead of hanging', async () => {
    const cases: [string[], RegExp][] = [
      [['queue', 'submit', '--images', images, '--out', join(tmp, 'x')], /--redis URL is required/],
      [['queue', 'submit', '--redis', 'http://h:1', '--images', images, '--out', join(tmp, 'x')], /scheme must be redis/],
      [['queue', 'submit', '--redis', redis.url, '--images', images], /needs --out/],
      [['queue', 'submit', '--redis', redis.url, '--images', images, '--out', join(tmp, 'x'), '--chunk', '0'], /--chunk must be a positive integer/],
      [['queue', 'submit', '--redis', redis.url, '--images', images, '--out', join(tmp, 'x'), '--method', 'shap'], /unknown method 'shap'/],
      [['queue', 'frobnicate', '--redis', redis.url], /unknown queue subcommand/],
      [['worker'], /--redis URL is required/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(tmp, 'x'))).toBe(false);
    const down = await cli('queue', 'status', '--redis', `redis://127.0.0.1:${await freePort()}`);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/error: cannot reach Redis: .*ECONNREFUSED/);
  }, 120_000);
});
