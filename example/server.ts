/**
 * `npm start`: the example gallery on http://localhost:3000 (see config.ts for the settings).
 */
import { createApp } from './app.js';
import { settingsFromEnv } from './config.js';

const settings = settingsFromEnv();
const example = await createApp(settings);
// Express 5 hands a failed listen (a port already taken…) to this callback: say so in one line and
// exit non-zero, rather than announce a server that is not there.
const server = example.app.listen(settings.port, async (error?: NodeJS.ErrnoException) => {
  if (error) {
    const reason = error.code === 'EADDRINUSE' ? `port ${settings.port} is already in use (set PORT to another)` : error.message;
    console.error(`objection-imageattach example: cannot listen: ${reason}`);
    await example.close();
    process.exit(1);
  }
  console.log(`objection-imageattach example on http://localhost:${settings.port} (data in ${settings.dataDir})`);
});

// Ctrl-C: stop taking requests, then close the database so SQLite checkpoints its WAL.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void example.close());
    server.closeIdleConnections();
  });
}
