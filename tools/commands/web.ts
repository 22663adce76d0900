/** `webgpu-xai web`: serves the browser page on localhost until interrupted. */
import { parseArgs } from 'node:util';
import { UsageError } from '../cli-common.js';
import { startWebServer } from '../web-server.js';

export const webHelp = `Usage: webgpu-xai web [--port N] [--host H]

Serves the explanation page on http://127.0.0.1:8080/ for a browser with WebGPU: open an ONNX classifier, a photo and class names from disk (or use the built-in SqueezeNet), see the top 5, explain any class with any method, download the overlay, map and summary. Nothing leaves the machine.

  --port N   port (default 8080; 0 picks a free one)
  --host H   address to listen on (default 127.0.0.1; WebGPU wants localhost or HTTPS)

Browsers with WebGPU: Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows.
URL parameters: model, image, labels (URLs), method, class, preset, batch, run=1.`;

export async function web(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) { console.log(webHelp); return; }
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer 0-65535, got '${values.port}'`);
  const s = await startWebServer({ port, ...(values.host !== undefined ? { host: values.host } : {}) });
  console.log(`webgpu-xai page: ${s.url}  (Ctrl-C stops)`);
  // The server keeps the process alive; the command returns only when it is interrupted.
  await new Promise<void>((done) => process.once('SIGINT', () => { void s.close().then(done); }));
}
