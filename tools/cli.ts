#!/usr/bin/env node
/** webgpu-xai command-line tool: dispatches to one module per command. */
import { classify, classifyHelp } from './commands/classify.js';
import { profile, profileHelp } from './commands/profile.js';
import { evaluate, evaluateHelp } from './commands/evaluate.js';
import { explain, explainHelp } from './commands/explain.js';
import { layers, layersHelp } from './commands/layers.js';
import { tune, tuneHelp } from './commands/tune.js';
import { queue, queueHelp } from './commands/queue.js';
import { worker, workerHelp } from './commands/worker.js';
import { runCommand, UsageError } from './cli-common.js';

const commands: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  classify: { run: classify, help: classifyHelp },
  explain: { run: explain, help: explainHelp },
  layers: { run: layers, help: layersHelp },
  profile: { run: profile, help: profileHelp },
  evaluate: { run: evaluate, help: evaluateHelp },
  tune: { run: tune, help: tuneHelp },
  queue: { run: queue, help: queueHelp },
  worker: { run: worker, help: workerHelp },
};

const usage = `Usage: webgpu-xai <command> [options]

Commands:
${Object.entries(commands).map(([k, c]) => `  ${k.padEnd(10)} ${c.help.split('\n')[2] ?? ''}`).join('\n')}

Run 'webgpu-xai <command> --help' for a command's options.`;

const [cmd, ...rest] = process.argv.slice(2);
if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
  console.log(usage);
  process.exit(cmd ? 0 : 2);
}
const c = commands[cmd];
if (!c) {
  process.stderr.write(`error: unknown command '${cmd}'\n\n${usage}\n`);
  process.exit(2);
}
const code = await runCommand(() => c.run(rest).catch((e: unknown) => {
  // parseArgs reports unknown or malformed options with this code.
  if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message);
  throw e;
}));
process.exit(code);
