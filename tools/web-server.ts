/**
 * Serves the browser page on localhost with the built-in model and ImageNet class names, so the
 * page opens ready to explain. The installed package (`webgpu-xai web`) serves the page that
 * `npm run build` bundled and minified into dist/web/; the repository (`npm run web`) bundles
 * web/main.ts with esbuild on each load so edits show at once, and also offers the shared models
 * and the default photo from ../shared, read-only. The headless-browser test starts it on a free port.
 *
 * WebGPU needs a secure context: localhost counts as one, a LAN address over plain HTTP does not.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_LABELS, DEFAULT_MODEL, FROM_SOURCE, REPO_ROOT, SHARED } from './cli-common.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.onnx': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.txt': 'text/plain; charset=utf-8',
};

/** Only these folders of ../shared are served. */
const SHARED_DIRS = ['models', 'images', 'labels'];

/** The built-in files the page may fetch, by URL path. */
const ASSETS: Record<string, string> = {
  '/assets/squeezenet1.1-fp16.onnx': DEFAULT_MODEL,
  '/assets/imagenet-classes.txt': DEFAULT_LABELS,
};

export interface WebServer { url: string; close: () => Promise<void> }

export interface WebServerOptions {
  port?: number;
  host?: string;
  /**
   * A folder holding a built page (index.html, main.js): what `npm run build` writes to dist/web.
   * Default: dist/web in the installed package; from the repository's sources, a fresh esbuild bundle per load.
   */
  pageDir?: string;
}

/** Bundles the page for browsers (ES2022 modules, no Node built-ins), with an inline source map. */
export async function bundlePage(): Promise<string> {
  // esbuild is a development dependency: the installed package serves the page built at pack time.
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [join(REPO_ROOT, 'web', 'main.ts')], bundle: true, platform: 'browser', format: 'esm',
    target: 'es2022', write: false, sourcemap: 'inline', logLevel: 'silent',
  });
  return r.outputFiles[0]!.text;
}

/**
 * What the page offers without a file picker: the built-in model and ImageNet class names; from
 * the repository also the shared models (fp32 SqueezeNet first) and one photo.
 */
function defaults(): Record<string, unknown> {
  const dir = join(SHARED, 'models');
  const builtIn = { name: 'squeezenet1.1-fp16.onnx (built in)', url: '/assets/squeezenet1.1-fp16.onnx' };
  const shared = FROM_SOURCE && existsSync(dir)
    ? readdirSync(dir).filter((f) => f.endsWith('.onnx') && !f.startsWith('mnist'))
      .sort((a, b) => Number(b.startsWith('squeezenet1.1-fp32')) - Number(a.startsWith('squeezenet1.1-fp32')) || a.localeCompare(b))
      .map((f) => ({ name: f, url: `/shared/models/${f}` }))
    : [];
  const image = 'images/misc/catdog.rise.png';
  return {
    models: [...shared, builtIn],
    ...(FROM_SOURCE && existsSync(join(SHARED, image)) ? { image: `/shared/${image}` } : {}),
    labels: '/assets/imagenet-classes.txt',
  };
}

/** Starts the server; port 0 picks a free one. */
export async function startWebServer(opts: WebServerOptions = {}): Promise<WebServer> {
  const pageDir = opts.pageDir ?? (FROM_SOURCE ? undefined : join(REPO_ROOT, 'dist', 'web'));
  const html = () => readFileSync(join(pageDir ?? join(REPO_ROOT, 'web'), 'index.html'));
  let bundle: string | Buffer = pageDir ? readFileSync(join(pageDir, 'main.js')) : await bundlePage();
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
        if (!pageDir) bundle = await bundlePage();
        return send(200, html(), TYPES['.html']);
      }
      if (path === '/main.js') return send(200, bundle, TYPES['.js']);
      const asset = ASSETS[path];
      if (asset) return send(200, readFileSync(asset), TYPES[extname(asset)] ?? 'application/octet-stream');
      if (path === '/defaults.json') return send(200, JSON.stringify(defaults()), TYPES['.json']);
      if (FROM_SOURCE && path.startsWith('/shared/')) {
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
  const { web } = await import('./commands/web.js');
  await web(process.argv.slice(2));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => { console.error(`error: ${(e as Error).message}`); process.exit(1); });
}
