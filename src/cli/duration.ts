/**
 * The durations the CLI's flags take (`--min-age`, `--grace`): `90s`, `10m`, `2h`, `1d`, or `0`.
 */
import { InvalidArgumentError } from '../errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `value` as milliseconds. @throws InvalidArgumentError naming `flag` */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (match === null || (match[2] === undefined && match[1] !== '0')) {
    throw new InvalidArgumentError(flag, 'a duration such as 90s, 10m, 2h or 1d (or 0)', value);
  }
  return Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!;
}
