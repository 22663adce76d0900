/**
 * A real redis-server (Debian's, installed by tools/setup-gpu.sh --redis) for the queue tests: on a
 * free loopback port, its data in a temporary folder, append-only persistence on so a restart
 * keeps the queue, stopped by the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p))
  ?? (spawnSync('sh', ['-c', 'command -v redis-server']).stdout?.toString().trim() || undefined);

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => res(typeof a === 'object' && a ? a.port : 0)); });
  });
}

export class RedisServer {
  private proc?: ChildProcess;
  constructor(readonly port: number, readonly dir: string) {}
  get url(): string { return `redis://127.0.0.1:${this.port}`; }

  /** Starts the server and resolves once it accepts connections. */
  async start(): Promise<void> {
    const p = spawn(REDIS_SERVER!, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    await new Promise<void>((res, rej) => {
      let out = '';
      const onData = (b: Buffer) => { out += b.toString(); if (/Ready to accept connections/.test(out)) { p.stdout!.off('data', onData); res(); } };
      p.stdout!.on('data', onData);
      p.once('exit', (code) => rej(new Error(`redis-server exited (${code}): ${out}`)));
    });
    p.stdout!.resume();
  }

  /** Stops the server (SIGTERM: it syncs the append-only file) and waits for it to exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((res) => { p.once('exit', () => res()); p.kill('SIGTERM'); });
    this.proc = undefined;
  }
}
