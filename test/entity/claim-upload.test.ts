/**
 * Claiming a direct upload (`fromUpload`) on a filesystem store and on S3 (s3rver), on every
 * database: the attach runs as `fromFile` does, and every refusal the issue lists leaves nothing
 * behind (no row without a file, no file without a row, no staged object of a refused upload).
 *
 * Uploads are "sent" here as a browser would have sent them, but written straight into the
 * staging place (s3rver does not enforce POST policies or SigV4): that is also how an object
 * larger than declared is put around the policy, to prove the claim measures it itself.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Model } from 'objection';
import sharp from 'sharp';
import {
  FileSystemStore,
  filesSettled,
  imageSet,
  pendingUploadsTable,
  presignUpload,
  type Store,
  sweepUploads,
} from '../../src/index.js';
import { findPendingUpload } from '../../src/entity/pending-uploads.js';
import { forEachDialect } from '../support/db.js';
import { ifd0Tags, phonePhoto, TAG } from '../support/exif.js';
import { jpeg, pngDeclaring } from '../support/images.js';
import { useS3Server } from '../support/s3.js';
import { listTree, removeDir, tempDir } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

const SECRETS = ['claim-test-secret-0123456789abcdefghij'];
const THUMBNAILS = [{ width: 100 }, { width: 200, format: 'webp' as const }];

/** A store that takes direct uploads, and how a test looks into it. */
interface Kind {
  name: 'filesystem' | 's3';
  store: Store;
  /** Puts `bytes` where the browser's upload of `id` lands, bypassing any policy. */
  put(id: string, bytes: Buffer): Promise<void>;
  /** What is staged (upload ids). */
  staged(): Promise<string[]>;
  /** The image files (keys), outside staging. */
  images(): Promise<string[]>;
  cleanup(): Promise<void>;
}

describe('claiming direct uploads', function () {
  this.timeout(30_000);
  const s3 = useS3Server();

  const kinds: Array<{ name: Kind['name']; make(): Promise<Kind> }> = [
    {
      name: 'filesystem',
      async make() {
        const dir = await tempDir('claim-fs');
        const store = new FileSystemStore({
          path: dir,
          baseUrl: 'http://static.example.com/',
          directUploads: { secrets: SECRETS },
        });
        const all = () => listTree(dir).then((files) => files.filter((f) => !f.endsWith('/')));
        return {
          name: 'filesystem',
          store,
          async put(id, bytes) {
            await mkdir(path.dirname(store.directUploads!.pathOf(id)), { recursive: true });
            await writeFile(store.directUploads!.pathOf(id), bytes);
          },
          staged: async () => (await all()).filter((f) => f.startsWith('.uploads/')).map((f) => path.basename(f)),
          images: async () => (await all()).filter((f) => !f.startsWith('.')),
          cleanup: () => removeDir(dir),
        };
      },
    },
    {
      name: 's3',
      async make() {
        const bucket = await s3.current.createBucket('claim');
        const store = s3.current.store(bucket, { region: 'us-east-1', directUploads: { secrets: SECRETS } });
        return {
          name: 's3',
          store,
          async put(id, bytes) {
            await s3.current.client.send(
              new PutObjectCommand({ Bucket: bucket, Key: store.directUploads!.stagingKey(id), Body: bytes }),
            );
          },
          staged: async () =>
            (await s3.current.listAll(bucket)).filter((k) => k.startsWith('.uploads/')).map((k) => path.basename(k)),
          images: async () => (await s3.current.listAll(bucket)).filter((k) => !k.startsWith('.')),
          cleanup: async () => {},
        };
      },
    },
  ];

  for (const kindMaker of kinds) {
    forEachDialect(`claiming direct uploads on ${kindMaker.name}`, (db) => {
      let kind: Kind;
      let user: User;

      before(async function () {
        Model.knex(db());
        await createSchema(db());
        await pendingUploadsTable(db());
      });
      beforeEach(async function () {
        Model.knex(db());
        kind = await kindMaker.make();
        user = await User.query().insert({ name: 'Ann' });
      });
      afterEach(async function () {
        await filesSettled();
        await kind.cleanup();
      });

      /** What presign records and answers for `owner`'s picture (the presign route's work, without HTTP). */
      async function presign(
        owner: User,
        options: { size: number; type?: string; principal?: string | null; expiresIn?: number },
      ): Promise<{ id: string; token: string }> {
        return presignUpload(imageSet(owner, 'picture'), {
          size: options.size,
          type: options.type ?? 'image/jpeg',
          principal: options.principal === undefined ? 'ann' : options.principal,
          expiresIn: options.expiresIn,
          store: kind.store,
        });
      }

      /** An upload presigned for `bytes` and put in staging, as a browser would. */
      async function uploaded(bytes: Buffer, options: { declared?: number; type?: string } = {}) {
        const upload = await presign(user, { size: options.declared ?? bytes.length, type: options.type });
        await kind.put(upload.id, bytes);
        return upload;
      }

      const claim = (token: string, options: Record<string, unknown> = {}, owner: User = user) =>
        imageSet(owner, 'picture').fromUpload(token, { principal: 'ann', store: kind.store, ...options });

      async function statusOf(id: string): Promise<string | undefined> {
        return (await findPendingUpload(db(), id))?.status;
      }

      /** The rows' files are the store's image files, exactly. */
      async function assertRowsMatchFiles(expectedRows: number): Promise<void> {
        await filesSettled();
        const rows = await UserPicture.query().where('user_id', user.id);
        assert.equal(rows.length, expectedRows);
        assert.equal((await kind.images()).length, expectedRows);
      }

      it('attaches the staged bytes as fromFile does: thumbnails, metadata stripped; marks the row claimed and removes the staged object', async function () {
        const { id, token } = await uploaded(await phonePhoto('jpeg', 6));
        // Thumbnails as a function of the original: its size is first known at the claim.
        const original = await claim(token, {
          thumbnails: ({ width }: { width: number }) =>
            [15, 20, 400].filter((w) => w < width).map((w) => ({ width: w, format: w === 20 ? 'webp' : undefined })),
        });
        // The displayed size (the orientation applied), as fromFile gives.
        assert.deepEqual([original.width, original.height, original.mimetype], [30, 40, 'image/jpeg']);
        const set = imageSet(user, 'picture');
        assert.deepEqual(
          set.thumbnails.map((t) => `${t.width}x${t.height} ${t.mimetype}`),
          ['15x20 image/jpeg', '20x26 image/webp'],
        );
        const stored = await set.makeBlob({ store: kind.store });
        assert.ok(!stored.includes('iPhone'), 'the camera and GPS went with the metadata');
        assert.deepEqual(ifd0Tags((await sharp(stored).metadata()).exif), [TAG.Orientation]);
        assert.equal(await statusOf(id), 'claimed');
        assert.deepEqual(await kind.staged(), []);
        await assertRowsMatchFiles(3);
      });

      it('refuses a malformed or forged token (403), an expired one (410), and another principal’s or owner’s (403)', async function () {
        const bytes = await jpeg(64, 64);
        const { token } = await uploaded(bytes);
        await assert.rejects(claim('not-a-token'), { code: 'ERR_UPLOAD_TOKEN_INVALID', statusCode: 403 });
        const last = token.at(-1) === 'A' ? 'B' : 'A';
        await assert.rejects(claim(token.slice(0, -1) + last), { code: 'ERR_UPLOAD_TOKEN_INVALID', statusCode: 403 });
        await assert.rejects(claim(token, { principal: 'bob' }), { code: 'ERR_UPLOAD_TOKEN_INVALID', statusCode: 403 });
        await assert.rejects(claim(token, { principal: null }), { code: 'ERR_UPLOAD_TOKEN_INVALID', statusCode: 403 });
        const other = await User.query().insert({ name: 'Bob' });
        await assert.rejects(claim(token, {}, other), { code: 'ERR_UPLOAD_TOKEN_INVALID', statusCode: 403 });
        await assert.rejects(claim(token, { purpose: 'users.cover' }), { code: 'ERR_UPLOAD_TOKEN_INVALID' });

        const expired = await presign(user, { size: bytes.length, expiresIn: 1 });
        await kind.put(expired.id, bytes);
        await setTimeout(1100);
        await assert.rejects(claim(expired.token), { code: 'ERR_UPLOAD_EXPIRED', statusCode: 410 });

        // None of them attached anything; the rightful claim still works.
        await assertRowsMatchFiles(0);
        await claim(token);
        await assertRowsMatchFiles(1);
      });

      it('refuses a claim before the upload arrived (400), leaving the upload claimable', async function () {
        const bytes = await jpeg(64, 64);
        const { id, token } = await presign(user, { size: bytes.length });
        await assert.rejects(claim(token), { code: 'ERR_UPLOAD_NOT_RECEIVED', statusCode: 400 });
        assert.equal(await statusOf(id), 'pending');
        await kind.put(id, bytes);
        await claim(token);
        assert.equal(await statusOf(id), 'claimed');
      });

      it('a second claim gets 409 and changes nothing', async function () {
        const { token } = await uploaded(await jpeg(64, 64));
        const first = await claim(token, { thumbnails: THUMBNAILS });
        await assert.rejects(claim(token, { thumbnails: THUMBNAILS }), { code: 'ERR_UPLOAD_CLAIMED', statusCode: 409 });
        const rows = await UserPicture.query().where('user_id', user.id);
        assert.equal(rows.length, 3);
        assert.ok(rows.every((r) => new Date(r.created_at).getTime() === new Date(first.created_at).getTime()));
        await assertRowsMatchFiles(3);
      });

      it('of two concurrent claims exactly one wins; the other gets 409 and leaves nothing', async function () {
        const { token } = await uploaded(await jpeg(320, 240));
        const [a, b] = await Promise.all([User.query().findById(user.id), User.query().findById(user.id)]);
        const results = await Promise.allSettled([
          claim(token, { thumbnails: THUMBNAILS }, a!),
          claim(token, { thumbnails: THUMBNAILS }, b!),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, JSON.stringify(lost.map((l) => String(l.reason))));
        assert.equal(lost[0]!.reason.code, 'ERR_UPLOAD_CLAIMED');
        assert.deepEqual(await kind.staged(), []);
        await assertRowsMatchFiles(3);
      });

      it('an object larger than declared (put around the policy) is refused with 413 and removed at once', async function () {
        const bytes = await jpeg(320, 240);
        const { id, token } = await uploaded(bytes, { declared: 1000 });
        await assert.rejects(claim(token), { code: 'ERR_IMAGE_TOO_LARGE', statusCode: 413 });
        assert.deepEqual(await kind.staged(), []);
        assert.equal(await statusOf(id), 'rejected');
        // Rejected for good: a retry is told so, whatever arrives again.
        await kind.put(id, bytes);
        await assert.rejects(claim(token), { code: 'ERR_UPLOAD_EXPIRED', statusCode: 410 });
        await assertRowsMatchFiles(0);
      });

      it('an object larger than the limit is refused with 413 and removed at once', async function () {
        const bytes = await jpeg(320, 240);
        const { id, token } = await uploaded(bytes);
        await assert.rejects(claim(token, { maxBytes: 1000 }), { code: 'ERR_IMAGE_TOO_LARGE', statusCode: 413 });
        assert.deepEqual(await kind.staged(), []);
        assert.equal(await statusOf(id), 'rejected');
        await assertRowsMatchFiles(0);
      });

      it('HTML renamed .jpg and declared image/jpeg is refused by its bytes (415)', async function () {
        const html = Buffer.from('<!doctype html><script>alert(document.cookie)</script>');
        const { id, token } = await uploaded(html, { type: 'image/jpeg' });
        await assert.rejects(claim(token), { code: 'ERR_IMAGE_UNSUPPORTED_TYPE', statusCode: 415 });
        assert.deepEqual(await kind.staged(), []);
        assert.equal(await statusOf(id), 'rejected');
        await assertRowsMatchFiles(0);
      });

      it('a decompression bomb is refused from its header, before any decode (413)', async function () {
        const bomb = pngDeclaring(60_000, 60_000);
        const { token } = await uploaded(bomb, { type: 'image/png' });
        const started = process.hrtime.bigint();
        await assert.rejects(claim(token, { thumbnails: THUMBNAILS }), {
          code: 'ERR_IMAGE_TOO_MANY_PIXELS',
          statusCode: 413,
        });
        // 3.6 gigapixels: a decode would take minutes and gigabytes, not this.
        assert.ok(process.hrtime.bigint() - started < 5_000_000_000n);
        assert.deepEqual(await kind.staged(), []);
        await assertRowsMatchFiles(0);
      });

      it('a TIFF is refused when the set does not allow TIFF (415)', async function () {
        const tiff = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#08f' } })
          .tiff()
          .toBuffer();
        const { token } = await uploaded(tiff, { type: 'image/jpeg' });
        await assert.rejects(claim(token, { types: ['image/jpeg', 'image/png'] }), {
          code: 'ERR_IMAGE_UNSUPPORTED_TYPE',
          statusCode: 415,
        });
        assert.deepEqual(await kind.staged(), []);
        await assertRowsMatchFiles(0);
      });

      it('a presign replayed after the claim (the same upload sent again) cannot be claimed again', async function () {
        const bytes = await jpeg(64, 64);
        const { id, token } = await uploaded(bytes);
        const first = await claim(token);
        // The browser (or an attacker holding the URL) uploads again to the same presigned place.
        await kind.put(id, await jpeg(80, 80));
        await assert.rejects(claim(token), { code: 'ERR_UPLOAD_CLAIMED', statusCode: 409 });
        const rows = await UserPicture.query().where('user_id', user.id);
        assert.deepEqual(
          rows.map((r) => [r.width, r.height]),
          [[first.width, first.height]],
        );
        // What it left is staged only: never an image's file, never served; the sweep removes it.
        assert.deepEqual(await kind.staged(), [id]);
        await assertRowsMatchFiles(1);
        const later = new Date(Date.now() + 3_600_000);
        const report = await sweepUploads({ knex: db(), stores: [kind.store], grace: 0, now: later });
        assert.equal(report.removed, 1);
        assert.deepEqual(await kind.staged(), []);
        assert.equal(await statusOf(id), undefined);
        await assertRowsMatchFiles(1);
      });

      it('claims in the caller’s transaction: nothing is claimed if it rolls back, the staged object removed after its commit', async function () {
        const { id, token } = await uploaded(await jpeg(64, 64));
        await assert.rejects(
          User.transaction(async (trx) => {
            await claim(token, { trx });
            throw new Error('the app changed its mind');
          }),
          /changed its mind/,
        );
        await filesSettled();
        assert.equal(await statusOf(id), 'pending');
        assert.deepEqual(await kind.staged(), [id]);
        await assertRowsMatchFiles(0);
        await User.transaction(async (trx) => {
          await claim(token, { trx });
          assert.deepEqual(await kind.staged(), [id], 'still staged until the commit');
        });
        await filesSettled();
        assert.deepEqual(await kind.staged(), []);
        assert.equal(await statusOf(id), 'claimed');
        await assertRowsMatchFiles(1);
      });
    });
  }

  it('refuses missing options, a principal that is no string, and a store made without directUploads, naming each', async function () {
    const dir = await tempDir('claim-no-uploads');
    try {
      const store = new FileSystemStore({ path: dir, baseUrl: 'http://static.example.com/' });
      const owner = Object.assign(new User(), { id: 1 });
      await assert.rejects(imageSet(owner, 'picture').fromUpload('x', undefined as never), {
        code: 'ERR_INVALID_ARGUMENT',
        message: /for options but/,
      });
      await assert.rejects(imageSet(owner, 'picture').fromUpload('x', { principal: 7 as never, store }), {
        code: 'ERR_INVALID_ARGUMENT',
        message: /options\.principal/,
      });
      await assert.rejects(imageSet(owner, 'picture').fromUpload('x', { principal: null, store }), {
        code: 'ERR_INVALID_ARGUMENT',
        message: /options\.store/,
      });
    } finally {
      await removeDir(dir);
    }
  });
});
