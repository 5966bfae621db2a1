/**
 * Argument checks for the library's entry points. Each throws an {@link InvalidArgumentError}
 * (`Expected <what> for <name> but received <value>`) unless `value` is what it names, and narrows
 * its type otherwise; one phrase per kind of value, so that every option's message reads alike.
 * `name` is the argument as the caller wrote it (`width`, `options.maxAge`, `--concurrency`);
 * `unit`, when given, follows the phrase in parentheses (`an integer >= 0 (seconds)`).
 *
 * @example
 * check.object(options, 'options', 'an object with a field');
 * check.integerIn(maxCount, 1, 1000, 'options.maxCount');
 * if (onError !== undefined) check.func(onError, 'options.onError');
 */
import { InvalidArgumentError } from '../errors.js';

const withUnit = (phrase: string, unit: string | undefined) => (unit === undefined ? phrase : `${phrase} (${unit})`);

/** Throws for anything but a non-null object (arrays included, as `typeof` says). */
export function object(value: unknown, name: string, what = 'an object'): asserts value is object {
  if (value === null || typeof value !== 'object') throw new InvalidArgumentError(name, what, value);
}

export function boolean(value: unknown, name: string): asserts value is boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(name, 'a boolean', value);
}

export function func(
  value: unknown,
  name: string,
  what = 'a function',
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new InvalidArgumentError(name, what, value);
}

export function string(value: unknown, name: string, what = 'a string'): asserts value is string {
  if (typeof value !== 'string') throw new InvalidArgumentError(name, what, value);
}

/** Throws for anything but a string of at least one character. */
export function nonEmptyString(value: unknown, name: string, what = 'a non-empty string'): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(name, what, value);
}

/** Throws for anything but a string that can name a folder: at least one character, no NUL. */
export function folderPath(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.includes('\0'))
    throw new InvalidArgumentError(name, 'a folder path (a non-empty string)', value);
}

/** Throws for anything but a safe integer `>= min`. */
export function integerAtLeast(value: unknown, min: number, name: string, unit?: string): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < min)
    throw new InvalidArgumentError(name, withUnit(`an integer >= ${min}`, unit), value);
}

/** Throws for anything but a safe integer `>= 1`. */
export function positiveInteger(value: unknown, name: string, unit?: string): asserts value is number {
  integerAtLeast(value, 1, name, unit);
}

/** Throws for anything but a safe integer from `min` to `max`, both included. */
export function integerIn(
  value: unknown,
  min: number,
  max: number,
  name: string,
  unit?: string,
): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    throw new InvalidArgumentError(name, withUnit(`an integer from ${min} to ${max}`, unit), value);
  }
}

/** Throws for anything but a finite number `>= min`. */
export function numberAtLeast(value: unknown, min: number, name: string, unit?: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min)
    throw new InvalidArgumentError(name, withUnit(`a number >= ${min}`, unit), value);
}

/** `"file" or "redirect"`, `301, 302 or 303`: the choices as a reader would list them. */
export function listOfChoices(choices: readonly unknown[]): string {
  const words = choices.map((choice) => (typeof choice === 'string' ? JSON.stringify(choice) : String(choice)));
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

/** Throws unless `value` is one of `choices` (compared with `===`). */
export function oneOf<T>(value: unknown, choices: readonly T[], name: string): asserts value is T {
  if (!choices.includes(value as T)) throw new InvalidArgumentError(name, listOfChoices(choices), value);
}

/** Throws unless `value` is an instance of `type`; `what` names it for the reader (`an instance of Store`). */
export function instanceOf<T>(
  value: unknown,
  type: abstract new (...args: never[]) => T,
  name: string,
  what = `an instance of ${type.name}`,
): asserts value is T {
  if (!(value instanceof type)) throw new InvalidArgumentError(name, what, value);
}
