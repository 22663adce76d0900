#!/usr/bin/env node
/**
 * webgpu-xai command-line tool: dispatches to one module per command. Command modules are loaded
 * only when needed: the parent process that filters Dawn's warnings (quiet-dawn.ts) loads none,
 * and a command's own dependencies are not a cost of the others.
 */
import { readFileSync } from 'node:fs';
import { inQuietChild, runQuietChild } from './quiet-dawn.js';

interface Command { run: (argv: string[]) => Promise<void>; help: string }

const commands: Record<string, () => Promise<Command>> = {
  classify: async () => { const m = await import('./commands/classify.js'); return { run: m.classify, help: m.classifyHelp }; },
  explain: async () => { const m = await import('./commands/explain.js'); return { run: m.explain, help: m.explainHelp }; },
  layers: async () => { const m = await import('./commands/layers.js'); return { run: m.layers, help: m.layersHelp }; },
  profile: async () => { const m = await import('./commands/profile.js'); return { run: m.profile, help: m.profileHelp }; },
  evaluate: async () => { const m = await import('./commands/evaluate.js'); return { run: m.evaluate, help: m.evaluateHelp }; },
  tune: async () => { const m = await import('./commands/tune.js'); return { run: m.tune, help: m.tuneHelp }; },
  queue: async () => { const m = await withBullmq(() => import('./commands/queue.js')); return { run: m.queue, help: m.queueHelp }; },
  worker: async () => { const m = await withBullmq(() => import('./commands/worker.js')); return { run: m.worker, help: m.workerHelp }; },
  web: async () => { const m = await import('./commands/web.js'); return { run: m.web, help: m.webHelp }; },
};

class MissingPeer extends Error {}

/** bullmq is an optional peer (only the queue needs it): a missing one is named with how to install it. */
async function withBullmq<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes("'bullmq'")) {
      throw new MissingPeer("the queue commands need the 'bullmq' package: npm install bullmq");
    }
    throw e;
  }
}

/** A command's summary: the paragraph after its usage line, joined and wrapped at 100 columns. */
function summary(help: string): string {
  const text = (help.split('\n\n')[1] ?? '').replace(/\s+/g, ' ').trim();
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + w.length + 1 > 86) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join(`\n${' '.repeat(13)}`);
}

async function usage(): Promise<string> {
  const help = async (load: () => Promise<Command>) => {
    try { return summary((await load()).help); } catch (e) { if (e instanceof MissingPeer) return `(${e.message})`; throw e; }
  };
  const rows = await Promise.all(Object.entries(commands).map(async ([k, load]) => `  ${k.padEnd(10)} ${await help(load)}`));
  return `Usage: webgpu-xai <command> [options]

Commands:
${rows.join('\n')}

Options: --version prints the version, --help this text.
Run 'webgpu-xai <command> --help' for a command's options.`;
}

/** The package's version: package.json beside tools/ (sources) or two levels up (dist/tools). */
function version(): string {
  const url = new URL(import.meta.url.endsWith('.ts') ? '../package.json' : '../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
  console.log(version());
  process.exit(0);
}
if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
  console.log(await usage());
  process.exit(cmd ? 0 : 2);
}
const load = commands[cmd];
if (!load) {
  process.stderr.write(`error: unknown command '${cmd}'\n\n${await usage()}\n`);
  process.exit(2);
}
if (!inQuietChild() && !rest.includes('--help') && !rest.includes('-h')) process.exit(await runQuietChild());
let c: Command;
try {
  c = await load();
} catch (e) {
  if (!(e instanceof MissingPeer)) throw e;
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
const { runCommand, UsageError } = await import('./cli-common.js');
const code = await runCommand(() => c.run(rest).catch((e: unknown) => {
  // parseArgs reports unknown or malformed options with this code.
  if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message);
  throw e;
}));
process.exit(code);
