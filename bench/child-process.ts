/**
 * Runs this benchmark script again as a child process for one runtime (`--child PEER`), so each
 * runtime gets its own process (WebGPU devices, wasm heaps and their crashes stay apart). Resolves
 * to undefined on success, else a one-line reason (exit code, signal or time-out with the child's
 * last message); the child's stderr is passed through.
 */
import { spawn } from 'node:child_process';

export function runBenchChild(peer: string, manifest: string, out: string, timeoutS: number): Promise<string | undefined> {
  const args = [...process.execArgv, process.argv[1]!, '--child', peer, '--manifest', manifest, '--out', out];
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'pipe'], env });
    let tail = ''; let timedOut = false;
    child.stderr.on('data', (d: Buffer) => { process.stderr.write(d); tail = (tail + d.toString()).slice(-2000); });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutS * 1000);
    timer.unref();
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return done(`timed out after ${timeoutS} s`);
      if (code === 0) return done(undefined);
      const last = tail.trim().split('\n').filter((l) => !l.startsWith('[')).pop() ?? '';
      done(`exited with ${signal ?? `code ${code}`}${last ? `: ${last.slice(0, 160)}` : ''}`);
    });
    child.on('error', (e) => done(`could not start: ${e.message}`));
  });
}
