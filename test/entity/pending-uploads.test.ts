import assert from 'node:assert/strict';
import { PENDING_UPLOADS_TABLE, pendingUploadsTable, UploadError } from '../../src/index.js';
import {
  findPendingUpload,
  insertPendingUpload,
  setPendingUploadStatus,
  timestampValue,
} from '../../src/entity/pending-uploads.js';
import { signUploadToken, uploadIdOf, verifyUploadToken } from '../../src/entity/upload-token.js';
import { newUploadId } from '../../src/stores/direct-uploads.js';
import { forEachDialect } from '../support/db.js';

const SECRET = 'a'.repeat(32);
const OLD_SECRET = 'b'.repeat(40);
const bound = { purpose: 'users.picture', owner: '{"id":["7"],"subset":[]}', principal: 'user:7', store: 'fs:abc' };

forEachDialect('imageattach_pending_uploads', (db) => {
  before(async function () {
    await pendingUploadsTable(db());
  });

  it('records a pending upload and reads it back as it went in', async function () {
    const id = newUploadId();
    const expiresAt = new Date(Date.now() + 600_000);
    await insertPendingUpload(db(), {
      ...bound,
      id,
      object_key: `.uploads/${id}`,
      declared_size: 5_000_000_000,
      declared_type: 'image/jpeg',
      expires_at: expiresAt,
    });
    const row = await findPendingUpload(db(), id);
    assert.ok(row);
    assert.equal(row.id, id);
    assert.equal(row.status, 'pending');
    assert.equal(row.principal, 'user:7');
    assert.equal(row.declared_size, 5_000_000_000);
    assert.equal(row.expires_at.getTime(), expiresAt.getTime());
    assert.equal(await findPendingUpload(db(), newUploadId()), undefined);
  });

  it('locks the row for update inside a transaction, and sets its status', async function () {
    const id = newUploadId();
    await insertPendingUpload(db(), {
      ...bound,
      principal: null,
      id,
      object_key: `.uploads/${id}`,
      declared_size: 10,
      declared_type: 'image/png',
      expires_at: new Date(Date.now() + 1000),
    });
    await db().transaction(async (trx) => {
      const row = await findPendingUpload(trx, id, { lock: true });
      assert.equal(row?.principal, null);
      await setPendingUploadStatus(trx, id, 'claimed');
    });
    assert.equal((await findPendingUpload(db(), id))?.status, 'claimed');
  });

  it('compares expiry in SQL through the (status, expires_at) index', async function () {
    const id = newUploadId();
    await insertPendingUpload(db(), {
      ...bound,
      id,
      object_key: `.uploads/${id}`,
      declared_size: 10,
      declared_type: 'image/png',
      expires_at: new Date(Date.now() - 1000),
    });
    const expired = await db()(PENDING_UPLOADS_TABLE)
      .where({ status: 'pending' })
      .where('expires_at', '<', timestampValue(db(), new Date()))
      .pluck('id');
    assert.ok(expired.includes(id));
  });
});

describe('upload tokens', function () {
  const id = newUploadId();
  const expiresAt = new Date(Date.now() + 600_000);

  it('verify what they were signed over, with any of the secrets (rotation)', function () {
    const token = signUploadToken({ ...bound, id, expiresAt }, [OLD_SECRET]);
    assert.match(token, /^[0-9a-f]{32}\.\d+\.[A-Za-z0-9_-]{43}$/);
    assert.equal(uploadIdOf(token), id);
    const verified = verifyUploadToken(token, [SECRET, OLD_SECRET], bound);
    assert.equal(verified.id, id);
    assert.equal(verified.expiresAt.getTime(), Math.floor(expiresAt.getTime() / 1000) * 1000);
  });

  it('refuse another principal, owner, purpose or store, a forged MAC, and an unknown secret with 403', function () {
    const token = signUploadToken({ ...bound, id, expiresAt }, [SECRET]);
    const refusals: Array<[string, () => unknown]> = [
      ['principal', () => verifyUploadToken(token, [SECRET], { ...bound, principal: 'user:8' })],
      ['no principal', () => verifyUploadToken(token, [SECRET], { ...bound, principal: null })],
      ['owner', () => verifyUploadToken(token, [SECRET], { ...bound, owner: '{"id":["8"],"subset":[]}' })],
      ['purpose', () => verifyUploadToken(token, [SECRET], { ...bound, purpose: 'users.cover' })],
      ['store', () => verifyUploadToken(token, [SECRET], { ...bound, store: 's3:other' })],
      ['secret', () => verifyUploadToken(token, [OLD_SECRET], bound)],
      ['MAC', () => verifyUploadToken(token.slice(0, -2) + (token.endsWith('AA') ? 'AB' : 'AA'), [SECRET], bound)],
      ['id', () => verifyUploadToken(newUploadId() + token.slice(32), [SECRET], bound)],
      ['malformed', () => verifyUploadToken(`${token}x`, [SECRET], bound)],
      ['not a string', () => verifyUploadToken(42, [SECRET], bound)],
    ];
    for (const [label, attempt] of refusals) {
      assert.throws(attempt, (error: unknown) => {
        assert.ok(error instanceof UploadError, label);
        assert.equal(error.code, 'ERR_UPLOAD_TOKEN_INVALID', label);
        assert.equal(error.statusCode, 403, label);
        return true;
      });
    }
  });

  it('refuse an expired token with 410, but an expired forgery with 403', function () {
    const past = new Date(Date.now() - 1000);
    const token = signUploadToken({ ...bound, id, expiresAt: past }, [SECRET]);
    assert.throws(() => verifyUploadToken(token, [SECRET], bound), { code: 'ERR_UPLOAD_EXPIRED', statusCode: 410 });
    assert.throws(() => verifyUploadToken(token, [OLD_SECRET], bound), { code: 'ERR_UPLOAD_TOKEN_INVALID' });
  });
});
