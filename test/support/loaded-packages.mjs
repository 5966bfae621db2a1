// Prints, as JSON, the npm packages a cold import of one module loads: `node --import tsx
// --conditions=objection-imageattach-source test/support/loaded-packages.mjs <specifier>`.
// Two sources, since neither sees everything: an ESM resolve hook (every import, ESM packages
// included) and require.cache (what CommonJS packages require() inside, like mime-types' mime-db).
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';

const hook = `
  let port;
  export function initialize(data) { port = data.port; }
  export async function resolve(specifier, context, next) {
    const resolved = await next(specifier, context);
    port.postMessage(resolved.url);
    return resolved;
  }`;
const { port1, port2 } = new MessageChannel();
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { port: port2 }, transferList: [port2] });

const files = [];
port1.on('message', (url) => files.push(url));
await import(process.argv[2]);
// The hook thread's messages arrive in order: once this last import's URL is here, all are.
const last = `data:text/javascript,export{}//${Date.now()}`;
const seen = new Promise((resolve) => port1.on('message', (url) => url === last && resolve()));
await import(last);
await seen;
port1.close();

files.push(...Object.keys(createRequire(import.meta.url).cache));
const packages = new Set(files.map((file) => file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//)?.[1]).filter(Boolean));
console.log(JSON.stringify([...packages].sort()));
