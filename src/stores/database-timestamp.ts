/**
 * `created_at` as exact as the database holds it. A JavaScript `Date` keeps milliseconds; the
 * `?_ts=` stamp SQLAlchemy-ImageAttach writes has microseconds, in the database session's time
 * zone (Python formats the value its driver hands back). So a value read from the database keeps,
 * beside its instant, the wall-clock digits of the column's text.
 */

/** A `Date` that also knows the column's text: its digits, and the offset they are in. */
export class DatabaseTimestamp extends Date {
  /**
   * `YYYYMMDDHHmmss` and six fractional digits, as the database session shows the value (its
   * time zone). Undefined on a copy made by `new DatabaseTimestamp(ms)` (a deep clone).
   */
  readonly digits: string | undefined;
  /** Minutes east of UTC of those digits. */
  readonly offsetMinutes: number;

  constructor(instant: number, digits?: string, offsetMinutes = 0) {
    super(instant);
    this.digits = digits;
    this.offsetMinutes = offsetMinutes;
  }

  /** The digits, when they still name this instant (a `setTime()` since makes them stale). */
  exactDigits(): string | undefined {
    const d = this.digits;
    if (d === undefined) return undefined;
    const wall = Date.UTC(
      +d.slice(0, 4),
      +d.slice(4, 6) - 1,
      +d.slice(6, 8),
      +d.slice(8, 10),
      +d.slice(10, 12),
      +d.slice(12, 14),
      +d.slice(14, 17),
    );
    return wall - this.offsetMinutes * 60_000 === this.getTime() ? d : undefined;
  }
}

/**
 * How a zone-less text is to be read: as UTC, as this machine's local time, at a fixed offset, or
 * as the wall clock of an IANA zone (PostgreSQL's session `TimeZone`, for a `timestamp` column).
 */
export type TextZone = 'utc' | 'local' | { offsetMinutes: number } | { zone: string };

const TEXT =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/**
 * Reads a timestamp as a database prints it: `2026-12-02 20:04:54.140674+09` (PostgreSQL's
 * timestamptz, in the session's zone), `2026-12-02 11:04:43.123456` (SQLite as SQLAlchemy writes
 * it; MySQL's DATETIME), `2026-12-02 11:04:43`. A text without offset is read in `zone`.
 * @returns the timestamp, or `undefined` for a text of another form
 */
export function parseDatabaseTimestamp(text: string, zone: TextZone = 'utc'): DatabaseTimestamp | undefined {
  const m = TEXT.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  const digits = m.slice(1, 7).join('') + fraction;
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, Math.trunc(Number(fraction) / 1000));
  let offsetMinutes: number;
  if (m[8] !== undefined) offsetMinutes = 0;
  else if (m[9] !== undefined)
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11] ?? 0) + Number(m[12] ?? 0) / 60);
  else if (zone === 'utc') offsetMinutes = 0;
  else if (zone === 'local') offsetMinutes = -new Date(year, month - 1, day, hour, minute, second).getTimezoneOffset();
  else if ('zone' in zone) {
    const offset = wallOffsetMinutes(zone.zone, wall);
    if (offset === undefined) return undefined;
    offsetMinutes = offset;
  } else offsetMinutes = zone.offsetMinutes;
  const instant = wall - offsetMinutes * 60_000;
  return Number.isNaN(instant) ? undefined : new DatabaseTimestamp(instant, digits, offsetMinutes);
}

/**
 * Minutes east of UTC of the IANA zone `zone` at `date`, or `undefined` for a zone Intl does not
 * know (a POSIX-style `<+09>-09`).
 */
export function zoneOffsetMinutes(zone: string, date: Date): number | undefined {
  try {
    const parts = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    }).formatToParts(date);
    const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    const wall = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
    return Math.round((wall - Math.floor(date.getTime() / 1000) * 1000) / 60_000);
  } catch {
    return undefined;
  }
}

/** The offset of `zone` that its wall clock `wall` (ms, read as UTC) is in: tried at the first guess, then at the instant it gives. */
function wallOffsetMinutes(zone: string, wall: number): number | undefined {
  const guess = zoneOffsetMinutes(zone, new Date(wall));
  if (guess === undefined) return undefined;
  return zoneOffsetMinutes(zone, new Date(wall - guess * 60_000));
}

/**
 * The text SQLAlchemy keeps in SQLite for a `DateTime`: `YYYY-MM-DD HH:MM:SS.ffffff`, here in UTC
 * (the digits of a {@link DatabaseTimestamp} where it has them).
 */
export function sqliteText(date: Date): string {
  const exact = date instanceof DatabaseTimestamp && date.offsetMinutes === 0 ? date.exactDigits() : undefined;
  return digitsText(exact ?? utcDigits(date));
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` of 20 stamp digits. */
export function digitsText(d: string): string {
  return `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)} ${d.slice(8, 10)}:${d.slice(10, 12)}:${d.slice(12, 14)}.${d.slice(14)}`;
}

/** `YYYYMMDDHHmmss` and six fractional digits of `date` in UTC (the last three zeros). */
export function utcDigits(date: Date): string {
  return wallDigits(date, 0);
}

/** The digits of `date` as a clock `offsetMinutes` east of UTC shows it. */
export function wallDigits(date: Date, offsetMinutes: number): string {
  const d = new Date(date.getTime() + offsetMinutes * 60_000);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return (
    pad(d.getUTCFullYear(), 4) +
    pad(d.getUTCMonth() + 1) +
    pad(d.getUTCDate()) +
    pad(d.getUTCHours()) +
    pad(d.getUTCMinutes()) +
    pad(d.getUTCSeconds()) +
    pad(d.getUTCMilliseconds() * 1000, 6)
  );
}
