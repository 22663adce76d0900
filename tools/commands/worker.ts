/** `worker`: takes jobs from the queue and runs them on this machine's GPU (one worker per GPU). */
import { parseArgs } from 'node:util';
import { UsageError } from '../cli-common.js';
import { connectionFrom, DEFAULT_QUEUE } from '../dataset/queue/jobs.js';
import { runWorker } from '../dataset/queue/worker.js';

export const workerHelp = `Usage: webgpu-xai worker --redis URL [options]

Takes jobs from a queue filled by 'webgpu-xai queue submit' or 'queue evaluate' and runs them on
this machine's GPU, one job at a time (start one worker per GPU). The model and images are read,
and results written, at the paths in the job: workers need the same file system paths.

  --redis URL        redis://[user:password@]host:port[/db] (required)
  --queue NAME       queue name (default ${DEFAULT_QUEUE})
  --id NAME          worker id in the index and in 'queue status' (default host:pid)
  --lock-ms MS       job lock, renewed every MS/2 while the job runs (default 120000); must outlast
                     the longest stall of this process's event loop (kernel compilation)
  --stalled-ms MS    how often to look for jobs of dead workers (default 30000): a killed worker's
                     job is taken up again within about lock-ms + stalled-ms
  --exit-when-idle S exit once the queue has had nothing waiting or running for S seconds
  -h, --help         this text

Stops after the current job on SIGINT/SIGTERM. When the GPU device is lost, the job fails (and is
retried by another worker) and this worker exits with code 1 and a message saying so.`;

export async function worker(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    redis: { type: 'string' }, queue: { type: 'string' }, id: { type: 'string' }, 'lock-ms': { type: 'string' }, 'stalled-ms': { type: 'string' },
    'exit-when-idle': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  }, strict: true });
  if (values.help) { console.log(workerHelp); return; }
  const num = (v: string | undefined, d: number, name: string, min: number) => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}, got '${v}'`);
    return n;
  };
  await runWorker({
    connection: connectionFrom(values.redis), queue: values.queue ?? DEFAULT_QUEUE, id: values.id,
    lockMs: num(values['lock-ms'], 120_000, 'lock-ms', 1000), stalledMs: num(values['stalled-ms'], 30_000, 'stalled-ms', 500),
    exitWhenIdleMs: 1000 * num(values['exit-when-idle'], 0, 'exit-when-idle', 0),
  });
}
