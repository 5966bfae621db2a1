import assert from 'node:assert/strict';
import { extensionFor, timestampToken, toObjectId, withTimestamp } from '../../src/stores/keys.js';
import { ImageAttachError, InvalidArgumentError } from '../../src/index.js';

describe('keys', function () {
  describe('the _ts cache buster', function () {
    it('is created_at in UTC as 14 digits plus 6 microsecond digits', function () {
      assert.equal(timestampToken(new Date('2013-09-20T03:08:39.123Z')), '20130920030839123000');
    });
    it('is stable for the same created_at', function () {
      const a = new Date('2020-01-02T03:04:05.678Z');
      assert.equal(timestampToken(a), timestampToken(new Date(a.getTime())));
    });
    it('changes when created_at moves by one second', function () {
      const a = new Date('2020-01-02T03:04:05Z');
      assert.notEqual(timestampToken(a), timestampToken(new Date(a.getTime() + 1000)));
      assert.equal(timestampToken(new Date(a.getTime() + 1000)), '20200102030406000000');
    });
    it('keeps all six fractional digits of an SQL time string', function () {
      assert.equal(timestampToken('2013-09-20 03:08:39.123456'), '20130920030839123456');
      assert.equal(timestampToken('2013-09-20 03:08:39'), '20130920030839000000');
    });
    it('reads epoch milliseconds and ISO strings with a zone', function () {
      assert.equal(timestampToken(Date.UTC(2001, 0, 2, 3, 4, 5, 6)), '20010102030405006000');
      assert.equal(timestampToken('2001-01-02T05:04:05.006+02:00'), '20010102030405006000');
    });
    it('appends ?_ts= or &_ts= when the URL already has a query', function () {
      const at = new Date('2013-09-20T03:08:39Z');
      assert.equal(withTimestamp('http://h/a.png', at), 'http://h/a.png?_ts=20130920030839000000');
      assert.equal(withTimestamp('http://h/a.png?sig=1', at), 'http://h/a.png?sig=1&_ts=20130920030839000000');
    });
    it('rejects an invalid date with InvalidArgumentError', function () {
      assert.throws(() => timestampToken('yesterday'), InvalidArgumentError);
    });
  });

  describe('object ids', function () {
    it('accept safe integers, bigints and digit strings', function () {
      assert.equal(toObjectId(42), 42n);
      assert.equal(toObjectId('340282366920938463463374607431768211455'), 2n ** 128n - 1n);
      assert.equal(toObjectId(-7n), -7n);
    });
    it('reject fractions and UUID strings, naming the argument', function () {
      assert.throws(
        () => toObjectId(1.5),
        (e: unknown) =>
          e instanceof InvalidArgumentError && e.message.includes('for objectId but received 1.5 of type number'),
      );
      assert.throws(() => toObjectId('6ba7b810-9dad-11d1-80b4-00c04fd430c8'), InvalidArgumentError);
    });
  });

  describe('extensions', function () {
    it('use .jpe for JPEG, as SQLAlchemy-ImageAttach stored them', function () {
      assert.equal(extensionFor('image/jpeg'), '.jpe');
    });
    it('reject an unknown mimetype with ERR_UNKNOWN_MIMETYPE, never a "None" suffix', function () {
      assert.throws(
        () => extensionFor('text/plain'),
        (e: unknown) =>
          e instanceof ImageAttachError && e.code === 'ERR_UNKNOWN_MIMETYPE' && /text\/plain/.test(e.message),
      );
    });
  });
});
