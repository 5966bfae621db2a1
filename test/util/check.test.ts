/**
 * The argument checks: each passes what it names and refuses the rest with one message shape.
 */
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors.js';
import * as check from '../../src/util/check.js';

/** Asserts that `call` throws an InvalidArgumentError with exactly `message`. */
function refuses(call: () => void, message: string): void {
  assert.throws(
    call,
    (e: unknown) => e instanceof InvalidArgumentError && e.code === 'ERR_INVALID_ARGUMENT' && e.message === message,
  );
}

describe('argument checks (util/check.ts)', function () {
  it('pass the values they name', function () {
    check.object({}, 'options');
    check.object([], 'options');
    check.boolean(false, 'flag');
    check.func(() => {}, 'callback');
    check.string('', 'alt');
    check.nonEmptyString('a', 'name');
    check.folderPath('images', 'root');
    check.integerAtLeast(0, 0, 'n');
    check.positiveInteger(1, 'n');
    check.integerIn(5, 1, 5, 'n');
    check.numberAtLeast(0.5, 0, 'n');
    check.oneOf('redirect', ['file', 'redirect'], 'mode');
    check.instanceOf(new URL('http://a/'), URL, 'url');
  });

  it('refuse the rest as "Expected <what> for <name> but received <value>"', function () {
    refuses(
      () => check.object(null, 'options', 'an object with a field'),
      'Expected an object with a field for options but received null',
    );
    refuses(
      () => check.boolean('yes', 'options.flag'),
      'Expected a boolean for options.flag but received "yes" of type string',
    );
    refuses(() => check.func(undefined, 'options.load'), 'Expected a function for options.load but received undefined');
    refuses(
      () => check.string(1, 'options.class'),
      'Expected a string for options.class but received 1 of type number',
    );
    refuses(
      () => check.folderPath('a\0b', 'options.root'),
      'Expected a folder path (a non-empty string) for options.root but received "a\\u0000b" of type string',
    );
    refuses(
      () => check.nonEmptyString('', 'name'),
      'Expected a non-empty string for name but received "" of type string',
    );
    refuses(
      () => check.integerAtLeast(-1, 0, 'options.maxAge', 'seconds'),
      'Expected an integer >= 0 (seconds) for options.maxAge but received -1 of type number',
    );
    refuses(
      () => check.positiveInteger(1.5, 'width'),
      'Expected an integer >= 1 for width but received 1.5 of type number',
    );
    refuses(
      () => check.integerIn(2 ** 53, 1, 10, 'n'),
      `Expected an integer from 1 to 10 for n but received ${2 ** 53} of type number`,
    );
    refuses(
      () => check.integerIn(11, 1, 10, 'n', 'bytes'),
      'Expected an integer from 1 to 10 (bytes) for n but received 11 of type number',
    );
    refuses(
      () => check.numberAtLeast(Number.NaN, 0, 'rate'),
      'Expected a number >= 0 for rate but received NaN of type number',
    );
    refuses(
      () => check.oneOf('bytes', ['file', 'redirect'], 'mode'),
      'Expected "file" or "redirect" for mode but received "bytes" of type string',
    );
    refuses(
      () => check.oneOf(301, [302, 303, 307], 'status'),
      'Expected 302, 303 or 307 for status but received 301 of type number',
    );
    refuses(() => check.instanceOf({}, URL, 'url'), 'Expected an instance of URL for url but received an object');
  });
});
