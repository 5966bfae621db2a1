/**
 * The CLI's exit codes and the error that means "the command line or the config is wrong".
 * The codes are part of the public interface (scripts branch on them); docs/cli-and-operations.md lists them.
 */
import { ImageAttachError, InvalidArgumentError } from '../errors.js';

export const EXIT = {
  /** Everything done, nothing wrong found. */
  OK: 0,
  /** The command ran but found or left problems: images that failed, rows whose file is missing. */
  PROBLEMS: 1,
  /** Bad usage: an unknown command or option, a bad option value, a missing or bad config. */
  USAGE: 2,
  /** The command could not run to the end: the database or a store failed. */
  FAILURE: 3,
  /** Interrupted (Ctrl-C): copies under way were finished first. */
  INTERRUPTED: 130,
} as const;

/** The command line or the config is wrong; exits with {@link EXIT.USAGE}. */
export class UsageError extends ImageAttachError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('ERR_CLI_USAGE', message, { statusCode: 400, data });
  }
}

/** The exit code an error thrown by a command means. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof InvalidArgumentError) return EXIT.USAGE;
  return EXIT.FAILURE;
}

/** A command's option value as an integer in a range. @throws InvalidArgumentError naming the option */
export function integerOption(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(name, `an integer from ${min} to ${max}`, value);
  return n;
}
