/**
 * `queue`: runs a dataset through BullMQ on Redis, one worker per GPU (`webgpu-xai worker`).
 * The subcommands enqueue an explain run or an evaluate (as a flow that merges at the end), show
 * progress per worker, and retry failed chunks. Logic lives in tools/dataset/queue/.
 */
import { parseArgs } from 'node:util';
import { basename, resolve } from 'node:path';
import { OutputError, PREPROCESS_ARGS, PREPROCESS_HELP, resolveModelPath, UsageError } from '../cli-common.js';
import { listImages } from '../dataset/sources.js';
import { explainConfigFromArgs } from '../dataset/explain-run.js';
import { outputFolder } from '../dataset/explain-command.js';
import { evaluationSettings } from '../dataset/evaluate-run.js';
import { evaluateArguments, loadAnnotations, preprocessArgs } from './evaluate.js';
import { connectionFrom, DEFAULT_QUEUE } from '../dataset/queue/jobs.js';
import { queueStatus, retryFailed, submitEvaluate, submitExplain, type RetryPolicy } from '../dataset/queue/client.js';

export const queueHelp = `Usage: webgpu-xai queue <submit|evaluate|status|retry-failed> --redis URL [options]

Runs a dataset on many GPUs through a BullMQ queue on Redis: start 'webgpu-xai worker' once per GPU.

  queue submit    enqueue 'explain --images' as jobs of --chunk images; results and index.jsonl
                  in --out exactly as the one-machine run writes them (either resumes the other)
  queue evaluate  enqueue 'evaluate' as a flow: chunk jobs, then one job that merges their rows
                  into evaluation.md and evaluation.csv in --out
  queue status    jobs done/failed/waiting, images per second and ETA per worker
  queue retry-failed   move every failed job back to the queue

  --redis URL      redis://[user:password@]host:port[/db] (required)
  --queue NAME     queue name (default ${DEFAULT_QUEUE})
  --images SPEC    submit: a folder, list file or glob; evaluate: a folder with annotations.json
  --out DIR        output folder on a file system every worker sees at the same path
  --chunk N        images per job (default 16): a job should take seconds to minutes
  --attempts N     tries per job before it stays failed (default 3), with exponential backoff
  --backoff-ms MS  delay before the first retry (default 2000)
  --json           status as JSON
  submit takes explain's options (--model, --method/--methods, --class, --batch, --seed, --param,
  --mu, --layers, --labels, the preprocessing options); evaluate takes evaluate's (--model,
  --methods, --annotations, --limit, --step, --batch, --mu, preprocessing)
${PREPROCESS_HELP}
  -h, --help       this text`;

export async function queue(argv: string[]): Promise<void> {
  try {
    await queueCommand(argv);
  } catch (e) {
    // Redis unreachable or gone: say so, exit 1, no stack trace.
    const m = (e as Error).message ?? '';
    if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|Connection is closed|max retries per request|connect/i.test(m) && !(e instanceof UsageError)) throw new OutputError(`cannot reach Redis: ${m}`);
    throw e;
  }
}

async function queueCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') { console.log(queueHelp); if (!sub) throw new UsageError('queue needs a subcommand: submit, evaluate, status or retry-failed'); return; }
  const { values } = parseArgs({ args: rest, options: {
    redis: { type: 'string' }, queue: { type: 'string' }, images: { type: 'string' }, out: { type: 'string' }, chunk: { type: 'string' },
    attempts: { type: 'string' }, 'backoff-ms': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    model: { type: 'string' }, method: { type: 'string', multiple: true }, methods: { type: 'string' }, class: { type: 'string' }, batch: { type: 'string' },
    seed: { type: 'string' }, param: { type: 'string', multiple: true }, mu: { type: 'string' }, layers: { type: 'string' }, labels: { type: 'string' },
    annotations: { type: 'string' }, limit: { type: 'string' }, step: { type: 'string' }, ...PREPROCESS_ARGS,
  }, strict: true });
  if (values.help) { console.log(queueHelp); return; }
  const positive = (v: string | undefined, d: number, name: string) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got '${v}'`);
    return n;
  };
  const connection = connectionFrom(values.redis, 'client');
  const q = values.queue ?? DEFAULT_QUEUE;
  const chunk = positive(values.chunk, 16, 'chunk');
  const retry: RetryPolicy = { attempts: positive(values.attempts, 3, 'attempts'), backoffMs: positive(values['backoff-ms'], 2000, 'backoff-ms') };

  if (sub === 'submit') {
    if (values.images === undefined) throw new UsageError('queue submit needs --images');
    if (values.out === undefined) throw new UsageError('queue submit needs --out (a folder every worker can write)');
    const method = [...(values.method ?? []), ...(values.methods ? [values.methods] : [])];
    const config = explainConfigFromArgs({ ...values, method: method.length ? method : undefined }, resolveModelPath(values.model));
    // Workers run elsewhere: every path in the job is absolute.
    config.modelPath = resolve(config.modelPath);
    if (config.labels !== undefined) config.labels = resolve(config.labels);
    const out = outputFolder(values.out, 'out');
    const items = listImages(values.images, [out]);
    const r = await submitExplain(connection, q, out, config, items, chunk, retry);
    console.log(`queued ${r.jobs} jobs (${r.images} images, ${chunk} per job; ${r.alreadyComplete} already complete in ${out}) on '${q}': methods ${config.methods.join(', ')}`);
    return;
  }
  if (sub === 'evaluate') {
    if (values.images === undefined) throw new UsageError('queue evaluate needs --images (a folder with annotations.json)');
    if (values.out === undefined) throw new UsageError('queue evaluate needs --out (a folder every worker can write)');
    const { step, batch, limit, mu, methods, dir } = evaluateArguments(values);
    const anns = loadAnnotations(dir, values.annotations, limit);
    const modelPath = resolve(resolveModelPath(values.model));
    const out = outputFolder(values.out, 'out/eval');
    const options = { methods, step, batch, mu };
    const pre = preprocessArgs(values);
    const spec = { out, dir: resolve(dir), modelPath, preprocess: Object.fromEntries(Object.entries(pre).filter(([, v]) => v !== undefined)) as Record<string, string>, options, images: anns.length };
    const r = await submitEvaluate(connection, q, spec, evaluationSettings(basename(modelPath), dir, pre, options), anns.map((a, index) => ({ a, index })), chunk, retry);
    console.log(`queued an evaluate flow on '${q}': ${r.jobs} chunk jobs (${r.images} images; ${r.alreadyComplete} already evaluated in ${out}) and merge job ${r.parent}`);
    return;
  }
  if (sub === 'status') {
    const s = await queueStatus(connection, q);
    if (values.json) { console.log(JSON.stringify(s, null, 2)); return; }
    const c = s.counts;
    const t = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} s` : '?');
    console.log(`queue '${q}': ${c.completed} done, ${c.failed} failed, ${c.waiting} waiting, ${c.delayed} delayed (retry backoff), ${c.active} active, ${c['waiting-children']} waiting for chunks`);
    console.log(`images: ${s.imagesDone} done, ${s.imagesLeft} queued; ${s.rate.toFixed(2)} images/s over all workers; ETA ${t(s.etaS)}`);
    for (const w of s.workers) {
      console.log(`  ${w.worker.padEnd(24)} ${String(w.jobs).padStart(5)} jobs ${String(w.images).padStart(7)} images ${w.rate.toFixed(2).padStart(8)} images/s` +
        (w.current ? `  on job ${w.current.job} (${w.current.progress} %, ETA ${t(w.current.etaS)})` : ''));
    }
    for (const f of s.failed) console.log(`  failed: job ${f.job} ${f.name} after ${f.attempts} attempts: ${f.reason}`);
    return;
  }
  if (sub === 'retry-failed') {
    const n = await retryFailed(connection, q);
    console.log(`moved ${n} failed job${n === 1 ? '' : 's'} back to '${q}'`);
    return;
  }
  throw new UsageError(`unknown queue subcommand '${sub}' (submit, evaluate, status, retry-failed)`);
}
