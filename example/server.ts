/**
 * `npm start`: the example gallery on http://localhost:3000 (see config.ts for the settings).
 */
import { createApp } from './app.js';
import { settingsFromEnv } from './config.js';

const settings = settingsFromEnv();
const example = await createApp(settings);
const server = example.app.listen(settings.port, () => {
  console.log(`objection-imageattach example on http://localhost:${settings.port} (data in ${settings.dataDir})`);
});

// Ctrl-C: stop taking requests, then close the database so SQLite checkpoints its WAL.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void example.close());
    server.closeIdleConnections();
  });
}
