/**
 * `npm start`: the example gallery on http://localhost:3000 (see config.ts for the settings).
 */
import { settleInterruptedWrites } from 'objection-imageattach';
import { createApp } from './app.js';
import { settingsFromEnv } from './config.js';

const settings = settingsFromEnv();
const example = await createApp(settings);
// Before serving: finish the replacements a process killed between its commit and its file swap
// left staged (docs/deploying.md). Entries that fail wait for a later settling.
const settled = await settleInterruptedWrites({ store: example.store, knex: example.knex });
if (settled.promoted + settled.discarded > 0)
  console.log(
    `objection-imageattach example: settled ${settled.promoted} interrupted write(s), discarded ${settled.discarded}`,
  );
for (const { token, error } of settled.failed)
  console.warn(`objection-imageattach example: staged write ${token} not settled yet: ${error.message}`);
// Express 5 hands a failed listen (a port already taken…) to this callback: say so in one line and
// exit non-zero, rather than announce a server that is not there.
const server = example.app.listen(settings.port, async (error?: NodeJS.ErrnoException) => {
  if (error) {
    const reason =
      error.code === 'EADDRINUSE' ? `port ${settings.port} is already in use (set PORT to another)` : error.message;
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
