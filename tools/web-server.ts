/**
 * Serves the browser page (web/) on localhost: bundles web/main.ts with esbuild in memory and
 * offers the shared models, the default image and the label file read-only, so the page opens
 * ready to explain. `npm run web` runs it; the headless-browser test starts it on a free port.
 *
 * WebGPU needs a secure context: localhost counts as one, a LAN address over plain HTTP does not.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { REPO_ROOT, SHARED } from './cli-common.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.onnx': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.txt': 'text/plain; charset=utf-8',
};

/** Only these folders of ../shared are served. */
const SHARED_DIRS = ['models', 'images', 'labels'];

export interface WebServer { url: string; close: () => Promise<void> }

/** Bundles the page for browsers (ES2022 modules, no Node built-ins), with an inline source map. */
export async function bundlePage(): Promise<string> {
  const r = await build({
    entryPoints: [join(REPO_ROOT, 'web', 'main.ts')], bundle: true, platform: 'browser', format: 'esm',
    target: 'es2022', write: false, sourcemap: 'inline', logLevel: 'silent',
  });
  return r.outputFiles[0]!.text;
}

/** What the page offers without a file picker: the shared models (fp32 first), one photo, ImageNet labels. */
function defaults(): Record<string, unknown> {
  const dir = join(SHARED, 'models');
  const models = existsSync(dir)
    ? readdirSync(dir).filter((f) => f.endsWith('.onnx') && !f.startsWith('mnist'))
      .sort((a, b) => Number(b.startsWith('squeezenet1.1-fp32')) - Number(a.startsWith('squeezenet1.1-fp32')) || a.localeCompare(b))
      .map((f) => ({ name: f, url: `/shared/models/${f}` }))
    : [];
  const image = 'images/misc/catdog.rise.png';
  const labels = 'labels/imagenet-synset.txt';
  return {
    models,
    ...(existsSync(join(SHARED, image)) ? { image: `/shared/${image}` } : {}),
    ...(existsSync(join(SHARED, labels)) ? { labels: `/shared/${labels}` } : {}),
  };
}

/** Starts the server; port 0 picks a free one. Rebuilds the bundle on each page load so edits show at once. */
export async function startWebServer(opts: { port?: number; host?: string } = {}): Promise<WebServer> {
  const html = () => readFileSync(join(REPO_ROOT, 'web', 'index.html'));
  let bundle = await bundlePage();
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string | Uint8Array, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    void (async () => {
      if (req.method !== 'GET') return send(405, 'GET only');
      let path: string;
      try { path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname); } catch { return send(400, 'bad path'); }
      if (path === '/' || path === '/index.html') {
        bundle = await bundlePage();
        return send(200, html(), TYPES['.html']);
      }
      if (path === '/main.js') return send(200, bundle, TYPES['.js']);
      if (path === '/defaults.json') return send(200, JSON.stringify(defaults()), TYPES['.json']);
      if (path.startsWith('/shared/')) {
        const rel = path.slice('/shared/'.length);
        // No escaping the served folders: ../ and absolute paths resolve outside, and so do symbolic links to elsewhere.
        const inside = (f: string, root: string) => SHARED_DIRS.some((d) => f.startsWith(join(root, d) + sep));
        const file = resolve(SHARED, rel);
        if (!inside(file, SHARED) || !existsSync(file) || !statSync(file).isFile() || !inside(realpathSync(file), realpathSync(SHARED))) return send(404, 'not found');
        return send(200, readFileSync(file), TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
      }
      send(404, 'not found');
    })().catch((e: unknown) => send(500, `server error: ${(e as Error).message}`));
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => { server.once('error', fail); server.listen(opts.port ?? 8080, host, ok); });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    url: `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/`,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    console.log(`npm run web [-- --port N] [--host H]
Serves the webgpu-xai page on http://127.0.0.1:8080/ (WebGPU wants localhost or HTTPS).
Open it in a browser with WebGPU (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows).
URL parameters: model, image, labels (URLs), method, class, preset, batch, run=1.`);
    return;
  }
  const s = await startWebServer({ port: values.port ? Number(values.port) : 8080, host: values.host });
  console.log(`webgpu-xai page: ${s.url}  (Ctrl-C stops)`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => { console.error(`error: ${(e as Error).message}`); process.exit(1); });
}
