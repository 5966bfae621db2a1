import assert from 'node:assert/strict';
import { FileSystemStore, HttpExposedFileSystemStore, InvalidArgumentError } from '../../src/index.js';
import { S3Store } from '../../src/s3.js';

/** URLs that `new URL()` accepts (it drops tabs and newlines, trims spaces) but that would carry whitespace into pages. */
const SPACED = [
  'https://static.example.com/im\tages/',
  'https://static.example.com/images/\n',
  ' https://static.example.com/',
  'https://static.example.com/a\u0000b/',
  'https://static.example.com/a\u00a0b/',
];

describe('URL options of the stores', function () {
  const refuses = (make: () => unknown, option: string, value: string) =>
    assert.throws(
      make,
      (e: unknown) =>
        e instanceof InvalidArgumentError &&
        e.message ===
          `Expected an absolute http(s) URL without whitespace or control characters for ${option} but received ${JSON.stringify(value)} of type string`,
    );

  it('refuse whitespace and control characters in FileSystemStore baseUrl', function () {
    for (const baseUrl of SPACED)
      refuses(() => new FileSystemStore({ path: '/tmp/x', baseUrl }), 'options.baseUrl', baseUrl);
  });
  it('refuse them in HttpExposedFileSystemStore hostUrl', function () {
    for (const hostUrl of SPACED)
      refuses(() => new HttpExposedFileSystemStore({ path: '/tmp/x', hostUrl }), 'options.hostUrl', hostUrl);
  });
  it('refuse them in S3Store publicBaseUrl and endpoint', function () {
    for (const url of SPACED) {
      refuses(
        () => new S3Store({ bucket: 'photos', region: 'eu-west-1', publicBaseUrl: url }),
        'options.publicBaseUrl',
        url,
      );
      refuses(() => new S3Store({ bucket: 'photos', region: 'eu-west-1', endpoint: url }), 'options.endpoint', url);
    }
  });
  it('still take a plain URL, and name a relative one as before', function () {
    assert.equal(
      new FileSystemStore({ path: '/tmp/x', baseUrl: 'https://static.example.com/images' }).baseUrl,
      'https://static.example.com/images/',
    );
    assert.throws(() => new FileSystemStore({ path: '/tmp/x', baseUrl: 'static/' }), {
      message: 'Expected an absolute http(s) URL for options.baseUrl but received "static/" of type string',
    });
  });
});
