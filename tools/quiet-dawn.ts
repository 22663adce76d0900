/**
 * Dawn prints two lines to stderr from native code whenever an adapter is requested on drivers
 * that report huge dynamic-buffer limits (lavapipe does): "Warning: maxDynamicUniformBuffers...
 * artificially reduced ..." and the same for storage buffers. They say nothing a user can act on,
 * and JavaScript cannot reach the native stream, so the CLI runs each command in a child process
 * whose stderr it forwards without those two lines. Everything else passes through as it comes.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const NOISE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced[^\n]*\n/gm;
const CHILD = 'WEBGPU_XAI_CLI_CHILD';
const TTY = 'WEBGPU_XAI_STDERR_TTY';

/** True in the child: run the command here. Also restores stderr's TTY-ness for progress output. */
export function inQuietChild(): boolean {
  if (process.env[CHILD] !== '1') return false;
  // A parent killed outright (SIGKILL: a queue worker's machine reclaiming it, a test) cannot pass
  // the signal on; its IPC channel closing tells the child, which then dies the same way, so a
  // killed command never leaves an orphan writing results or holding a job.
  if (process.channel) {
    process.channel.unref();
    process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  }
  if (process.env[TTY] === '1') Object.defineProperty(process.stderr, 'isTTY', { value: true });
  return true;
}

/** Runs this same command line in a child with Dawn's two warnings filtered out; resolves to its exit code. */
export function runQuietChild(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, [CHILD]: '1', [TTY]: process.stderr.isTTY ? '1' : '' },
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => { const out = s.replace(NOISE, ''); if (out) process.stderr.write(out); });
  // Ctrl-C reaches the child through the terminal's process group; a signal sent to this process alone is passed on.
  const ignore = () => {};
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward('SIGTERM'));
  process.on('SIGHUP', forward('SIGHUP'));
  return new Promise((done) => {
    child.on('error', (e) => { process.stderr.write(`error: cannot start the command: ${e.message}\n`); done(1); });
    child.on('close', (code, signal) => done(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
