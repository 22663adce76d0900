#!/usr/bin/env node
/** webgpu-xai command-line tool: dispatches to one module per command. */
import { classify, classifyHelp } from './commands/classify.js';
import { profile, profileHelp } from './commands/profile.js';
import { evaluate, evaluateHelp } from './commands/evaluate.js';
import { explain, explainHelp } from './commands/explain.js';
import { layers, layersHelp } from './commands/layers.js';
import { tune, tuneHelp } from './commands/tune.js';
import { web, webHelp } from './commands/web.js';
import { packageVersion, runCommand, UsageError } from './cli-common.js';
import { inQuietChild, runQuietChild } from './quiet-dawn.js';

const commands: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  classify: { run: classify, help: classifyHelp },
  explain: { run: explain, help: explainHelp },
  layers: { run: layers, help: layersHelp },
  profile: { run: profile, help: profileHelp },
  evaluate: { run: evaluate, help: evaluateHelp },
  tune: { run: tune, help: tuneHelp },
  web: { run: web, help: webHelp },
};

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

const usage = `Usage: webgpu-xai <command> [options]

Commands:
${Object.entries(commands).map(([k, c]) => `  ${k.padEnd(10)} ${summary(c.help)}`).join('\n')}

Options: --version prints the version, --help this text.
Run 'webgpu-xai <command> --help' for a command's options.`;

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
  console.log(packageVersion());
  process.exit(0);
}
if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
  console.log(usage);
  process.exit(cmd ? 0 : 2);
}
const c = commands[cmd];
if (!c) {
  process.stderr.write(`error: unknown command '${cmd}'\n\n${usage}\n`);
  process.exit(2);
}
if (!inQuietChild() && !rest.includes('--help') && !rest.includes('-h')) process.exit(await runQuietChild());
const code = await runCommand(() => c.run(rest).catch((e: unknown) => {
  // parseArgs reports unknown or malformed options with this code.
  if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message);
  throw e;
}));
process.exit(code);
