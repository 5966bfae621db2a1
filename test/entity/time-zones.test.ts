/**
 * PostgreSQL's `created_at` read and written right whatever the process's `TZ` and the session's
 * `TimeZone`, on `timestamp` (without time zone: the session's wall clock) and `timestamptz`.
 * Each case runs in a child process started with its own `TZ`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import knexFactory, { type Knex } from 'knex';
import { removeDir, tempDir } from '../support/tmp.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children', 'zone-replacements.ts');
const run = promisify(execFile);

/** The digits of `ms` on the wall clock of `zone` (`YYYYMMDDHHmmss` and 6 fraction digits). */
function wallDigits(ms: number, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}${parts.month}${parts.day}${parts.hour}${parts.minute}${parts.second}${String((ms % 1000) * 1000).padStart(6, '0')}`;
}

(process.env.PG_URL ? describe : describe.skip)(
  'created_at on PostgreSQL, whatever TZ and the session TimeZone',
  function () {
    this.timeout(60000);
    let admin: Knex;
    let root: string;
    before(async function () {
      admin = knexFactory({ client: 'pg', connection: process.env.PG_URL, pool: { min: 0, max: 1 } });
      root = await tempDir('time-zones');
    });
    after(async function () {
      await admin.destroy();
      await removeDir(root);
    });

    const cases = [
      { tz: 'Europe/Paris', session: 'UTC' },
      { tz: 'America/New_York', session: 'Asia/Seoul' },
    ];
    for (const columnType of ['timestamp', 'timestamptz']) {
      for (const { tz, session } of cases) {
        it(`${columnType}, TZ=${tz}, session TimeZone ${session}: the stamp is the session's wall clock, a committed row is found committed, replacements do not wait`, async function () {
          const schema = `oia_tz_${randomBytes(5).toString('hex')}`;
          await admin.raw('CREATE SCHEMA ??', [schema]);
          try {
            const started = Date.now();
            const { stdout } = await run(
              process.execPath,
              [
                '--import',
                'tsx',
                '--conditions=objection-imageattach-source',
                child,
                process.env.PG_URL!,
                schema,
                columnType,
                session,
                path.join(root, schema),
              ],
              {
                env: { ...process.env, TZ: tz },
              },
            );
            const seen = JSON.parse(stdout) as {
              now: number;
              replacements: Array<{ ms: number; createdAt: number; ts: string }>;
              read: { createdAt: number; ts: string };
              databaseDigits: string;
              outcome: string;
            };
            const last = seen.replacements.at(-1)!;
            assert.equal(seen.outcome, 'committed', 'the lost-COMMIT check finds the committed row');
            assert.equal(seen.read.createdAt, last.createdAt, 'the row reads back as the instant written');
            assert.ok(
              last.createdAt >= started - 1000 && last.createdAt <= seen.now,
              `created_at is now, not hours off: ${new Date(last.createdAt).toISOString()}`,
            );
            assert.equal(seen.read.ts, last.ts);
            assert.equal(last.ts, wallDigits(last.createdAt, session), "the _ts is the session's wall clock");
            assert.equal(seen.databaseDigits, last.ts, 'the database holds those digits');
            const instants = seen.replacements.map((r) => r.createdAt);
            assert.deepEqual(
              [...instants].sort((a, b) => a - b),
              instants,
            );
            assert.equal(new Set(instants).size, instants.length, 'each replacement has its own created_at');
            // Microsecond columns never wait a second for the clock (the old code waited 1.1 s each).
            assert.ok(
              seen.replacements.slice(1).every((r) => r.ms < 1000),
              `replacements took ${seen.replacements.map((r) => Math.round(r.ms)).join(', ')} ms`,
            );
          } finally {
            await admin.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
          }
        });
      }
    }
  },
);
