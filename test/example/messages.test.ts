import assert from 'node:assert/strict';
import { InvalidArgumentError, InvalidImageError, StoreError } from '../../src/errors.js';
import { megabytes, messageFor, uploadMessage } from '../../example/messages.js';

describe("the example's words for refused uploads (example/messages.ts)", function () {
  it('gives sizes in MB as people count them', function () {
    assert.equal(megabytes(10 * 1024 * 1024), '10 MB');
    assert.equal(megabytes(14_900_000), '14.2 MB');
  });

  it('says how big the file was when the library knows, and the limit always', function () {
    assert.equal(
      uploadMessage('ERR_IMAGE_TOO_LARGE', { size: 14_900_000, maxBytes: 10 * 1024 * 1024 }),
      'This file is 14.2 MB: a picture can be at most 10 MB.',
    );
    assert.equal(
      uploadMessage('ERR_IMAGE_TOO_LARGE', { maxBytes: 10 * 1024 * 1024 }),
      'This file is too big: a picture can be at most 10 MB.',
    );
  });

  it('tells HEIC photos apart from files that are no picture, and says what to do when the server cannot read them', function () {
    // A route whose types leave HEIC out: data.mimetype is the type the bytes are.
    const heic = new InvalidImageError(
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      'Expected one of image/jpeg… but the bytes are image/heic',
      {
        statusCode: 415,
        data: { mimetype: 'image/heic' },
      },
    );
    assert.equal(messageFor(heic), "HEIC photos aren't taken here: export it as JPEG and try again.");
    const noDecoder = new InvalidImageError(
      'ERR_HEIC_DECODER_MISSING',
      'Expected a HEIC decoder but none is installed',
      {
        statusCode: 415,
        data: { mimetype: 'image/heic', package: 'heic-decode' },
      },
    );
    assert.equal(messageFor(noDecoder), "HEIC photos can't be read here yet: export it as JPEG and try again.");
    const notOne = new InvalidImageError(
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      'Expected an image (…) but the bytes are not one',
      { statusCode: 415 },
    );
    assert.equal(
      messageFor(notOne),
      "This file isn't a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.",
    );
  });

  it('leaves server failures and errors of other libraries to the error page', function () {
    assert.equal(messageFor(new StoreError('ERR_STORE_WRITE', 'disk full', { statusCode: 503 })), undefined);
    assert.equal(messageFor(new Error('boom')), undefined);
    assert.match(messageFor(new InvalidArgumentError('width', 'one of 50, 100', '300'))!, /^We don't make that/);
  });

  it('has words of its own for a picture that cannot be shown (a stored file that does not decode) or was just replaced', function () {
    assert.match(uploadMessage('ERR_ORIGINAL_UNREADABLE'), /damaged on our side/);
    assert.match(uploadMessage('ERR_ORIGINAL_REPLACED'), /reload/);
  });

  it('has words for every code an upload can be refused with, and none of them is a code', function () {
    const codes = [
      'ERR_IMAGE_TOO_LARGE',
      'ERR_IMAGE_TOO_MANY_PIXELS',
      'ERR_IMAGE_TOO_MANY_FRAMES',
      'ERR_IMAGE_UNSUPPORTED_TYPE',
      'ERR_IMAGE_UNREADABLE',
      'ERR_IMAGE_TRUNCATED',
      'ERR_IMAGE_EMPTY',
      'ERR_UPLOAD_NO_FILE',
      'ERR_UPLOAD_ABORTED',
      'ERR_UPLOAD_MALFORMED',
      'ERR_UPLOAD_UNEXPECTED_FILE',
      'ERR_UPLOAD_LIMIT',
      'ERR_UPLOAD_NOT_MULTIPART',
    ];
    for (const code of codes) {
      const text = uploadMessage(code, { size: 1, maxBytes: 2, width: 3, height: 4, frames: 6, maxPixels: 5_000_000 });
      assert.doesNotMatch(text, /ERR_|Expected|undefined|NaN/, `${code}: ${text}`);
    }
  });
});
