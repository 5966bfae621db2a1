import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, truncate, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Model } from 'objection';
import { FileSystemStore, HttpExposedFileSystemStore, ImageNotFoundError, imageSet } from '../src/index.js';
import { migrate, migrateClass, MigrationError, MigrationPlan, type MigrationEvent } from '../src/migration.js';
import { forEachDialect } from './support/db.js';
import { useS3Server } from './support/s3.js';
import { jpeg, png } from './support/images.js';
import { CorruptingStore, keyName, RecordingStore, SlowStore } from './support/stores.js';
import { listTree, removeDir, tempDir } from './support/tmp.js';
import { createSchema, Product, ProductImage, User, UserCover, UserPicture } from './entity/models.js';

const BASE_URL = 'http://static.example.com/';

/** Every file under `root` with the SHA-256 of its bytes. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const files = (await listTree(root)).filter((f) => !f.endsWith('/'));
  const entries = await Promise.all(
    files.map(
      async (f) =>
        [
          f,
          createHash('sha256')
            .update(await readFile(path.join(root, f)))
            .digest('hex'),
        ] as const,
    ),
  );
  return new Map(entries);
}

forEachDialect('migration', (db, dialect) => {
  let sourceRoot: string;
  let destinationRoot: string;
  let source: FileSystemStore;
  let destination: RecordingStore;
  let ann: User;
  let bob: User;
  let photo: Buffer;
  let drawing: Buffer;

  before(async function () {
    Model.knex(db());
    await createSchema(db());
    [photo, drawing] = await Promise.all([jpeg(400, 300), png(64, 48)]);
  });

  /**
   * SQLAlchemy-ImageAttach's scenario: for each of two image classes, one owner with an original and three
   * thumbnails (by height) and one owner with only an original: 10 files.
   */
  beforeEach(async function () {
    for (const table of ['user_picture', 'user_cover', 'product_image', 'products', 'users']) await db()(table).del();
    sourceRoot = await tempDir(`migrate-src-${dialect}`);
    destinationRoot = await tempDir(`migrate-dst-${dialect}`);
    source = new FileSystemStore({ path: sourceRoot, baseUrl: BASE_URL });
    destination = new RecordingStore({ path: destinationRoot, baseUrl: BASE_URL });
    ann = await User.query().insert({ name: 'Ann' });
    bob = await User.query().insert({ name: 'Bob' });
    const store = source;
    await imageSet(ann, 'picture').fromBlob(photo, { store });
    for (const height of [30, 60, 90]) await imageSet(ann, 'picture').generateThumbnail({ height }, { store });
    await imageSet(bob, 'picture').fromBlob(drawing, { store });
    await imageSet(bob, 'cover').fromBlob(photo, { store });
    for (const height of [30, 60, 90]) await imageSet(bob, 'cover').generateThumbnail({ height }, { store });
    await imageSet(ann, 'cover').fromBlob(drawing, { store });
    assert.equal((await snapshot(sourceRoot)).size, 10);
  });

  afterEach(async function () {
    await removeDir(sourceRoot);
    await removeDir(destinationRoot);
  });

  const sourceFiles = (prefix: string) =>
    snapshot(sourceRoot).then((all) => new Map([...all].filter(([f]) => f.startsWith(prefix))));

  describe('migrateClass', function () {
    it('copies exactly the 5 files of its class, byte for byte, and leaves the source untouched', async function () {
      const before = await snapshot(sourceRoot);
      const report = await migrateClass(UserPicture, source, destination).execute();
      assert.deepEqual(await snapshot(destinationRoot), await sourceFiles('user-picture/'));
      assert.deepEqual(await snapshot(sourceRoot), before);
      assert.equal(report.done, 5);
      assert.equal(report.total, 5);
      assert.deepEqual(report.failed, []);
    });

    it('flags thumbnails reproducible and originals not, as putFile receives them', async function () {
      await migrateClass(UserCover, source, destination).execute();
      const flags = destination.puts.map((p) => [p.key.split(' ')[0], p.reproducible]).sort();
      const id = bob.id;
      assert.deepEqual(flags, [
        [`user-cover/${ann.id}/64x48`, false],
        [`user-cover/${id}/120x90`, true],
        [`user-cover/${id}/400x300`, false],
        [`user-cover/${id}/40x30`, true],
        [`user-cover/${id}/80x60`, true],
      ]);
    });

    it('rejects a class that is not an image class, naming the argument', function () {
      assert.throws(() => migrateClass(User as never, source, destination), {
        name: 'InvalidArgumentError',
        message: 'Expected an image model class (made with Image()) for Model but received a function',
      });
    });
  });

  describe('migrate', function () {
    it('copies all 10 files of every class, byte for byte, reporting counts and bytes', async function () {
      const expected = await snapshot(sourceRoot);
      const report = await migrate([UserPicture, UserCover], source, destination).execute();
      assert.deepEqual(await snapshot(destinationRoot), expected);
      const bytes = (await Promise.all([...expected.keys()].map((f) => readFile(path.join(sourceRoot, f))))).reduce(
        (n, b) => n + b.length,
        0,
      );
      assert.deepEqual(report, { done: 10, copied: 10, total: 10, bytes, skipped: 0, failed: [] });
      assert.equal(destination.puts.filter((p) => p.reproducible).length, 6);
    });

    it('takes owner classes for the image classes of their imageAttachment() relations', async function () {
      const report = await migrate({ users: User }, source, destination).execute();
      assert.equal(report.done, 10);
      assert.deepEqual(await snapshot(destinationRoot), await snapshot(sourceRoot));
    });

    it('covers each class once when it is listed twice (as itself and through its owner)', async function () {
      const plan = migrate([User, UserPicture], source, destination);
      assert.deepEqual(plan.classes, [UserPicture, UserCover]);
      assert.equal(await plan.count(), 10);
    });

    it('rejects a model that is neither an image class nor an owner, naming its entry', function () {
      class Plain extends Model {
        static override tableName = 'plain';
      }
      assert.throws(() => migrate({ plain: Plain }, source, destination), {
        name: 'InvalidArgumentError',
        message:
          'Expected an image model class (made with Image()) or an owner class with imageAttachment() relations for models.plain but received a function',
      });
    });
  });

  describe('the plan', function () {
    it('does nothing until it runs', async function () {
      const plan = migrate([User], source, destination);
      assert.ok(plan instanceof MigrationPlan);
      assert.equal(plan.progress, undefined);
      assert.deepEqual(await listTree(destinationRoot), []);
    });

    it('for await yields each image once the destination holds its file', async function () {
      const seen: string[] = [];
      for await (const image of migrate([User], source, destination)) {
        assert.notEqual(await destination.statFile(image), null, `${keyName(image)} is in the destination`);
        seen.push(keyName(image));
      }
      assert.equal(new Set(seen).size, 10);
    });

    it('execute(onProgress) reports every image with the progress so far', async function () {
      const events: Array<[number, MigrationEvent['status'], number]> = [];
      const report = await migrate([User], source, destination).execute((progress, event) => {
        events.push([progress.done, event.status, event.bytes]);
        assert.equal(progress.total, 10);
      });
      assert.deepEqual(
        events.map((e) => e[0]),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      );
      assert.ok(events.every(([, status, bytes]) => status === 'copied' && bytes > 0));
      assert.equal(
        report.bytes,
        events.reduce((n, e) => n + e[2], 0),
      );
    });

    it('reads rows in pages and copies each file once, across composite keys too', async function () {
      const product = await Product.query().insert({});
      for (const slot of [1, 2, 3]) await imageSet(product, 'images', { slot }).fromBlob(drawing, { store: source });
      const report = await migrate([User, Product], source, destination, { pageSize: 2 }).execute();
      assert.equal(report.done, 13);
      assert.equal(new Set(destination.puts.map((p) => p.key)).size, 13);
      assert.equal(destination.puts.length, 13);
      assert.equal((await ProductImage.query()).length, 3);
    });

    it('runs at most `concurrency` copies at once (default 4)', async function () {
      const slowRoot = await tempDir('migrate-slow');
      try {
        const slow = new SlowStore({ path: slowRoot, baseUrl: BASE_URL });
        await migrate([User], source, slow).execute();
        assert.equal(slow.maxActive, 4);
        const slower = new SlowStore({ path: path.join(slowRoot, 'again'), baseUrl: BASE_URL });
        await migrate([User], source, slower, { concurrency: 2 }).execute();
        assert.equal(slower.maxActive, 2);
      } finally {
        await removeDir(slowRoot);
      }
    });

    it('rejects bad options and stores, naming them', function () {
      const cases: Array<[() => unknown, string]> = [
        [
          () => migrate([User], source, destination, { concurrency: 0 }),
          'Expected an integer from 1 to 256 for options.concurrency but received 0 of type number',
        ],
        [
          () => migrate([User], source, destination, { pageSize: 1.5 }),
          'Expected an integer from 1 to 100000 for options.pageSize but received 1.5 of type number',
        ],
        [
          () => migrate([User], source, destination, { verify: 'yes' as never }),
          'Expected a boolean for options.verify but received "yes" of type string',
        ],
        [
          () => migrate([User], source, source),
          'Expected a store other than the source for destination but received an instance of FileSystemStore',
        ],
        [
          () => migrate([User], {} as never, destination),
          'Expected an instance of Store for source but received an object',
        ],
      ];
      for (const [call, message] of cases) assert.throws(call, { name: 'InvalidArgumentError', message });
    });
  });

  describe('resuming with skipExisting', function () {
    it('completes an interrupted migration on rerun, copying nothing twice', async function () {
      let taken = 0;
      for await (const _image of migrate([User], source, destination)) {
        if (++taken === 3) break; // "killed" after three images; copies under way still finish
      }
      const held = (await snapshot(destinationRoot)).size;
      assert.ok(held >= 3 && held < 10, `${held} files after the interruption`);
      const report = await migrate([User], source, destination, { skipExisting: true }).execute();
      assert.deepEqual([report.skipped, report.copied, report.done], [held, 10 - held, 10]);
      assert.equal(destination.puts.length, 10);
      assert.equal(new Set(destination.puts.map((p) => p.key)).size, 10);
      assert.deepEqual(await snapshot(destinationRoot), await snapshot(sourceRoot));
    });

    it('copies again a file the destination holds with another size (a partial copy)', async function () {
      await migrateClass(UserPicture, source, destination).execute();
      const original = (await UserPicture.query().where({ user_id: ann.id, original: true }))[0]!;
      const damaged = destination.pathFor(original);
      await truncate(damaged, 100);
      destination.puts.length = 0;
      const report = await migrateClass(UserPicture, source, destination, { skipExisting: true }).execute();
      assert.deepEqual([report.skipped, report.copied], [4, 1]);
      assert.deepEqual(
        destination.puts.map((p) => p.key),
        [keyName(original)],
      );
      assert.deepEqual(await snapshot(destinationRoot), await sourceFiles('user-picture/'));
    });

    it('dry run: stats files and reports what it would copy and skip, writing nothing', async function () {
      await migrateClass(UserCover, source, destination).execute();
      const before = await snapshot(destinationRoot);
      destination.puts.length = 0;
      const report = await migrate([User], source, destination, { skipExisting: true, dryRun: true }).execute();
      assert.deepEqual([report.done, report.skipped, report.copied], [10, 5, 5]);
      const pictures = [...(await sourceFiles('user-picture/')).keys()];
      const pictureBytes = (await Promise.all(pictures.map((f) => readFile(path.join(sourceRoot, f))))).reduce(
        (n, b) => n + b.length,
        0,
      );
      assert.equal(report.bytes, pictureBytes);
      assert.deepEqual(destination.puts, []);
      assert.deepEqual(await snapshot(destinationRoot), before);
    });
  });

  describe('verify', function () {
    it('detects a copy that reads back different, reports it and removes it', async function () {
      const corrupting = new CorruptingStore({ path: destinationRoot, baseUrl: BASE_URL }, (name) =>
        name.includes('400x300'),
      );
      const report = await migrate([User], source, corrupting, { verify: true }).execute();
      assert.equal(report.done, 8);
      assert.equal(report.failed.length, 2);
      for (const failure of report.failed) {
        assert.ok(failure.error instanceof MigrationError);
        assert.equal((failure.error as MigrationError).code, 'ERR_MIGRATION_CHECKSUM_MISMATCH');
        assert.equal(failure.key.width, 400);
        assert.equal(await corrupting.statFile(failure.key), null, 'the bad copy is gone');
      }
      assert.match(
        report.failed[0]!.error.message,
        /read back from the destination differs from the source \(\d+ bytes, sha256 [0-9a-f]{12}… instead of/,
      );
    });

    it('without verify, the same corruption goes unnoticed (what verify is for)', async function () {
      const corrupting = new CorruptingStore({ path: destinationRoot, baseUrl: BASE_URL }, (name) =>
        name.includes('400x300'),
      );
      const report = await migrate([User], source, corrupting).execute();
      assert.deepEqual([report.done, report.failed.length], [10, 0]);
      assert.notDeepEqual(await snapshot(destinationRoot), await snapshot(sourceRoot));
    });
  });

  describe('failures', function () {
    let missing: UserPicture;
    beforeEach(async function () {
      missing = (await UserPicture.query().where({ user_id: ann.id, height: 60 }))[0]!;
      await unlink(source.pathFor(missing));
    });

    it('a missing source file is reported with its key, and the run goes on', async function () {
      const report = await migrate([User], source, destination).execute();
      assert.equal(report.done, 9);
      assert.equal(report.failed.length, 1);
      const [failure] = report.failed;
      assert.deepEqual(failure!.key, {
        objectType: 'user-picture',
        objectId: BigInt(ann.id),
        width: 80,
        height: 60,
        mimetype: 'image/jpeg',
      });
      assert.ok(failure!.error instanceof ImageNotFoundError);
      assert.equal((await snapshot(destinationRoot)).size, 9);
    });

    it('with skipExisting, a missing source file is reported the same way', async function () {
      const report = await migrate([User], source, destination, { skipExisting: true }).execute();
      assert.deepEqual([report.done, report.failed.length], [9, 1]);
      assert.equal((report.failed[0]!.error as ImageNotFoundError).code, 'ERR_IMAGE_NOT_FOUND');
    });

    it("stopOnError: the run rejects with the image's error as the cause", async function () {
      const plan = migrate([User], source, destination, { stopOnError: true, concurrency: 1 });
      await assert.rejects(plan.execute(), (error: MigrationError) => {
        assert.equal(error.code, 'ERR_MIGRATION_STOPPED');
        assert.ok(error.cause instanceof ImageNotFoundError);
        assert.match(error.message, new RegExp(`^Migration stopped at user-picture/${ann.id} 80x60 image/jpeg: `));
        return true;
      });
      assert.equal(plan.progress!.failed.length, 1);
      assert.ok(plan.progress!.done < 9, 'nothing after the failure was started');
    });
  });

  describe('between kinds of store', function () {
    it('a round trip through another Store class and back gives the same bytes', async function () {
      // Any Store works on either side; when S3Store lands, it can stand in the middle here.
      const middleRoot = await tempDir('migrate-middle');
      const backRoot = await tempDir('migrate-back');
      try {
        const middle = new HttpExposedFileSystemStore({ path: middleRoot, hostUrl: 'http://localhost:3000' });
        const back = new FileSystemStore({ path: backRoot, baseUrl: BASE_URL });
        assert.equal((await migrate([User], source, middle, { verify: true }).execute()).done, 10);
        assert.equal((await migrate([User], middle, back, { verify: true }).execute()).done, 10);
        assert.deepEqual(await snapshot(backRoot), await snapshot(sourceRoot));
      } finally {
        await removeDir(middleRoot);
        await removeDir(backRoot);
      }
    });

    describe('through S3', function () {
      const s3 = useS3Server();
      it('fs → S3 (s3rver) → fs gives the same bytes, thumbnails flagged reproducible', async function () {
        const bucket = await s3.current.createBucket('migrate');
        const middle = s3.current.store(bucket, {
          storageClass: 'STANDARD',
          reproducibleStorageClass: 'REDUCED_REDUNDANCY',
        });
        const backRoot = await tempDir('migrate-back-s3');
        try {
          assert.equal((await migrate([User], source, middle, { verify: true }).execute()).done, 10);
          assert.equal((await s3.current.listAll(bucket)).length, 10);
          const thumbKey = `user-picture/${ann.id}/40x30.jpe`;
          assert.equal((await s3.current.head(bucket, thumbKey)).StorageClass, 'REDUCED_REDUNDANCY');
          const back = new FileSystemStore({ path: backRoot, baseUrl: BASE_URL });
          assert.equal((await migrate([User], middle, back, { verify: true }).execute()).done, 10);
          assert.deepEqual(await snapshot(backRoot), await snapshot(sourceRoot));
        } finally {
          await removeDir(backRoot);
        }
      });
    });
  });

  describe('aborting', function () {
    it('stops starting copies, lets those under way finish, and rejects', async function () {
      const controller = new AbortController();
      const plan = migrate([User], source, destination, { signal: controller.signal, concurrency: 2 });
      await assert.rejects(
        plan.execute((progress) => {
          if (progress.done === 2) controller.abort();
        }),
        { name: 'MigrationError', code: 'ERR_MIGRATION_ABORTED' },
      );
      const done = plan.progress!.done;
      assert.ok(done >= 2 && done < 10);
      assert.equal((await snapshot(destinationRoot)).size, done);
    });
  });
});
