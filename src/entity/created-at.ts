/**
 * `created_at` written and read as SQLAlchemy-ImageAttach writes and reads it, so `?_ts=` stamps
 * agree to the microsecond and rows stay readable by both libraries:
 *
 * - SQLite: the text SQLAlchemy keeps (`2026-12-02 11:04:43.123456`, UTC), not epoch milliseconds,
 *   which Python cannot parse; both forms are read.
 * - PostgreSQL and MySQL: drivers turn the column into a `Date` (milliseconds); image queries ask
 *   them for the column's text instead, so the value keeps its microseconds and the session's
 *   time zone, which is what Python's `strftime` of it shows.
 */
import type { Knex } from 'knex';
import type { QueryBuilder } from 'objection';
import { toDate } from '../stores/keys.js';
import {
  DatabaseTimestamp,
  digitsText,
  parseDatabaseTimestamp,
  sqliteText,
  type TextZone,
  utcDigits,
  wallDigits,
  zoneOffsetMinutes,
} from '../stores/database-timestamp.js';

type Dialect = 'sqlite' | 'postgres' | 'mysql' | 'other';

/** The dialect of a knex instance or transaction. */
export function dialectOf(knex: Knex | undefined): Dialect {
  const name = String((knex?.client as { dialect?: string } | undefined)?.dialect ?? '');
  if (name.startsWith('sqlite')) return 'sqlite';
  if (name === 'postgresql' || name === 'postgres' || name === 'pg') return 'postgres';
  if (name === 'mysql' || name === 'mysql2') return 'mysql';
  return 'other';
}

const PG_TIMESTAMPTZ = 1184;
const PG_TIMESTAMP = 1114;

interface PgTypes {
  getTypeParser(oid: number, format?: string): (value: string) => unknown;
}

interface MysqlField {
  type: string;
  string(): string | null;
}

/**
 * Per-query driver options (knex `.options()`) under which timestamps come back as
 * {@link DatabaseTimestamp}s built from the column's text; `undefined` where none are needed.
 * Other columns are parsed as the driver would (a MySQL `typeCast` of the connection is kept).
 */
export function exactTimestampOptions(knex: Knex): Record<string, unknown> | undefined {
  const client = knex.client as {
    driver?: { types?: PgTypes };
    connectionSettings?: { timezone?: string; typeCast?: unknown };
  };
  switch (dialectOf(knex)) {
    case 'postgres': {
      const types = client.driver?.types;
      if (types === undefined) return undefined;
      return {
        types: {
          getTypeParser(oid: number, format?: string) {
            if (oid !== PG_TIMESTAMPTZ && oid !== PG_TIMESTAMP) return types.getTypeParser(oid, format);
            const fallback = types.getTypeParser(oid, format);
            // timestamptz text carries its offset. A timestamp without zone holds the session's wall
            // clock (PostgreSQL converts to it on the way in), not this process's (`TZ`), which pg
            // would assume; this process's only while the session's zone is unknown or unreadable.
            const zone = oid === PG_TIMESTAMP ? sessionTextZone(knex) : 'utc';
            return (text: string) => parseDatabaseTimestamp(text, zone) ?? fallback(text);
          },
        },
      };
    }
    case 'mysql': {
      const settings = client.connectionSettings ?? {};
      const zone = mysqlZone(settings.timezone);
      const own =
        typeof settings.typeCast === 'function'
          ? (settings.typeCast as (field: MysqlField, next: () => unknown) => unknown)
          : undefined;
      if (zone === undefined) return undefined;
      return {
        typeCast(field: MysqlField, next: () => unknown) {
          if (field.type !== 'DATETIME' && field.type !== 'TIMESTAMP') return own ? own(field, next) : next();
          const text = field.string();
          return text === null ? null : (parseDatabaseTimestamp(text, zone) ?? text);
        },
      };
    }
    default:
      return undefined;
  }
}

/**
 * How to read a zone-less timestamp text that `knex`'s database printed (this library's tables
 * read through JSON, where no driver parser runs): SQLite's text is UTC, MySQL's is in the
 * connection's zone, PostgreSQL's `timestamptz` text carries its offset.
 */
export function textZoneOf(knex: Knex | undefined): TextZone {
  if (dialectOf(knex) !== 'mysql') return 'utc';
  const timezone = (knex!.client as { connectionSettings?: { timezone?: string } }).connectionSettings?.timezone;
  return mysqlZone(timezone) ?? 'local';
}

/** mysql2's `timezone` setting as a zone for texts, or `undefined` for one it does not use. */
function mysqlZone(timezone: string | undefined): 'utc' | 'local' | { offsetMinutes: number } | undefined {
  if (timezone === undefined || timezone === 'local') return 'local';
  if (timezone === 'Z') return 'utc';
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(timezone);
  return m ? { offsetMinutes: (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) } : undefined;
}

/**
 * The `created_at` of a row about to be inserted into `table`: now, cut to the fractional digits
 * the column keeps (MySQL's DATETIME, as SQLAlchemy makes it, keeps none, and MariaDB would
 * truncate where MySQL rounds), carrying the digits the database will show for it (SQLite: UTC;
 * MySQL: the connection's zone; PostgreSQL: the session's zone). So the URL of a new image is the
 * one a later read gives. The column's precision and the session's zone are asked once per
 * connection configuration.
 *
 * With `after` (an instant, ms), the result is the column's next value after it when the clock
 * has not passed it yet (same millisecond, or same second in a whole-second column): a moment
 * ahead of the clock rather than a wait.
 */
export async function createdAtForInsert(knex: Knex | undefined, table: string, after?: number): Promise<Date> {
  const unit = await createdAtUnit(knex, table);
  const now = new Date(Math.floor(Date.now() / unit) * unit);
  if (after !== undefined && now.getTime() <= after) now.setTime((Math.floor(after / unit) + 1) * unit);
  const offset = await offsetMinutesAt(knex, now);
  return offset === undefined ? now : new DatabaseTimestamp(now.getTime(), wallDigits(now, offset), offset);
}

/** The step of `table.created_at` in milliseconds: 1000 for a whole-second column, 1 for milliseconds or finer. */
export async function createdAtUnit(knex: Knex | undefined, table: string): Promise<number> {
  const precision = await columnPrecision(knex, table);
  return precision !== undefined && precision < 3 ? 10 ** (3 - precision) : 1;
}

const precisions = new WeakMap<object, Map<string, Promise<number | undefined>>>();

/** The fractional-second digits `table.created_at` keeps (MySQL and PostgreSQL), asked once. */
function columnPrecision(knex: Knex | undefined, table: string): Promise<number | undefined> {
  const dialect = dialectOf(knex);
  if (knex === undefined || (dialect !== 'mysql' && dialect !== 'postgres')) return Promise.resolve(undefined);
  const key = knex.client.config as object;
  let byTable = precisions.get(key);
  if (byTable === undefined) precisions.set(key, (byTable = new Map()));
  let precision = byTable.get(table);
  if (precision === undefined) {
    const [schema, name] = table.includes('.') ? table.split('.', 2) : [undefined, table];
    const current = dialect === 'mysql' ? 'DATABASE()' : 'current_schema()';
    const sql =
      'SELECT datetime_precision AS p FROM information_schema.columns ' +
      `WHERE table_schema = ${schema === undefined ? current : '?'} AND table_name = ? AND column_name = 'created_at'`;
    precision = knex
      .raw(sql, schema === undefined ? [name!] : [schema, name!])
      .then((result: unknown) => {
        const rows = (dialect === 'mysql' ? (result as unknown[][])[0] : (result as { rows: unknown[] }).rows) as Array<
          Record<string, unknown>
        >;
        const value = rows[0]?.p ?? rows[0]?.P;
        return value === null || value === undefined ? undefined : Number(value);
      })
      .catch(() => undefined);
    byTable.set(table, precision);
  }
  return precision;
}

async function offsetMinutesAt(knex: Knex | undefined, date: Date): Promise<number | undefined> {
  switch (dialectOf(knex)) {
    case 'sqlite':
      return 0;
    case 'mysql': {
      const zone = mysqlZone(
        (knex!.client as { connectionSettings?: { timezone?: string } }).connectionSettings?.timezone,
      );
      if (zone === undefined) return undefined;
      if (zone === 'utc') return 0;
      return zone === 'local' ? -date.getTimezoneOffset() : zone.offsetMinutes;
    }
    case 'postgres': {
      const zone = await sessionTimeZone(knex!);
      return zone === undefined ? undefined : zoneOffsetMinutes(zone, date);
    }
    default:
      return undefined;
  }
}

const sessionZones = new WeakMap<object, Promise<string | undefined>>();
/** The answers of {@link sessionTimeZone} once they came, for the (synchronous) type parsers. */
const knownSessionZones = new WeakMap<object, string | undefined>();

/** PostgreSQL's session `TimeZone`, asked once per connection configuration. */
export function sessionTimeZone(knex: Knex): Promise<string | undefined> {
  const key = knex.client.config as object;
  let zone = sessionZones.get(key);
  if (zone === undefined) {
    zone = knex
      .raw('SHOW TIME ZONE')
      .then(
        (result: { rows?: Array<{ TimeZone?: string; timezone?: string }> }) =>
          result.rows?.[0]?.TimeZone ?? result.rows?.[0]?.timezone,
      )
      .catch(() => undefined)
      .then((answer) => {
        knownSessionZones.set(key, answer);
        return answer;
      });
    sessionZones.set(key, zone);
  }
  return zone;
}

/** How to read a PostgreSQL `timestamp` text: the session's zone once known (and one Intl reads), else this process's. */
function sessionTextZone(knex: Knex): TextZone {
  const zone = knownSessionZones.get(knex.client.config as object);
  return zone !== undefined && zoneOffsetMinutes(zone, new Date()) !== undefined ? { zone } : 'local';
}

/**
 * The value to write for `created_at` on `knex`'s database: one read from the database goes back
 * as its own text (microseconds kept: PostgreSQL with its offset, MySQL in the connection's zone);
 * any other date as SQLAlchemy's text on SQLite, and as a `Date` elsewhere. PostgreSQL's value is
 * cast to `timestamptz`, so a `timestamp` column (without zone) gets the session's wall clock of
 * the instant: it would drop the offset of an uncast text, and pg sends a `Date` in this process's zone.
 */
export function createdAtColumnValue(value: unknown, knex: Knex | undefined): unknown {
  if (!(value instanceof Date)) return value;
  const dialect = dialectOf(knex);
  const exact = value instanceof DatabaseTimestamp ? value.exactDigits() : undefined;
  if (dialect === 'postgres') {
    const text =
      exact !== undefined && value instanceof DatabaseTimestamp
        ? `${digitsText(exact)}${offsetText(value.offsetMinutes)}`
        : `${digitsText(utcDigits(value))}+00:00`;
    return knex!.raw('?::timestamptz', [text]);
  }
  if (
    exact !== undefined &&
    value instanceof DatabaseTimestamp &&
    dialect === 'mysql' &&
    value.offsetMinutes === offsetOfMysql(knex)
  )
    return digitsText(exact);
  return dialect === 'sqlite' ? sqliteText(value) : value;
}

function offsetOfMysql(knex: Knex | undefined): number | undefined {
  const zone = mysqlZone(
    (knex?.client as { connectionSettings?: { timezone?: string } } | undefined)?.connectionSettings?.timezone,
  );
  return zone === 'utc' ? 0 : typeof zone === 'object' ? zone.offsetMinutes : undefined;
}

function offsetText(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.trunc(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The committed `created_at` of the row of `table` whose key columns are `id`, read as image
 * queries read it (a `timestamp` without zone in the session's zone), or `undefined` when there is
 * no such row. For checks outside a model's queries: which write of a key a row is.
 */
export async function readCreatedAt(knex: Knex, table: string, id: Record<string, unknown>): Promise<Date | undefined> {
  if (dialectOf(knex) === 'postgres') await sessionTimeZone(knex);
  const query = knex(table).where(id).first('created_at');
  const options = exactTimestampOptions(knex);
  if (options !== undefined) query.options(options);
  const row = (await query) as { created_at: Date | string | number } | undefined;
  return row === undefined ? undefined : toDate(row.created_at);
}

/**
 * `Builder` (a model's `QueryBuilder` class) extended so that every query it builds carries
 * {@link exactTimestampOptions}: finds, eager loads and relation queries of image models alike.
 */
export function exactTimestampQueryBuilder<B extends typeof QueryBuilder>(Builder: B): B {
  const Base = Builder as unknown as new (...args: any[]) => QueryBuilder<any>;
  class ExactTimestampQueryBuilder extends Base {
    constructor(...args: any[]) {
      super(...args);
      // A timestamp without zone is read in the session's zone: know it before the query runs.
      this.runBefore(async (result, builder) => {
        const knex = builder.knex();
        if (dialectOf(knex) === 'postgres') await sessionTimeZone(knex);
        return result;
      });
      this.onBuildKnex((knexBuilder, builder) => {
        const options = exactTimestampOptions(builder.knex());
        if (options !== undefined) knexBuilder.options(options);
      });
    }
  }
  return ExactTimestampQueryBuilder as unknown as B;
}
