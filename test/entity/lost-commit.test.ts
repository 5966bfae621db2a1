/**
 * A COMMIT whose answer never comes back: a TCP proxy in front of the database cuts the link right
 * after the client sent COMMIT (the server still commits), or just before (it never does). Files
 * must follow what the database did, which the library asks on a fresh connection: never a
 * committed row without its file, nor a file left of a transaction that did not commit.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';
import { Model } from 'objection';
import { filesSettled } from '../../src/entity/ledger.js';
import { backgroundSettlingDone, settleInterruptedWrites } from '../../src/entity/staged-writes.js';
import { imageSet } from '../../src/entity/image-set.js';
import { FileSystemStore } from '../../src/stores/fs.js';
import { forEachDialect } from '../support/db.js';
import { fsStore } from '../support/fs-store.js';
import { png } from '../support/images.js';
import { listTree } from '../support/tmp.js';
import { createSchema, User, UserPicture } from './models.js';

type Cut = 'after-commit' | 'before-commit' | 'late-commit';

/** How long a `late-commit` COMMIT is held before it reaches the server: the client gave up long before. */
const LATE_COMMIT_MS = 600;

/**
 * A TCP proxy to `target` that, once armed, cuts the first connection that sends COMMIT; armed
 * with `thenDown`, the database goes unreachable at that instant: every other link is cut too
 * (a pool's idle connections included) and new ones are refused until `down` is set false.
 */
class CommitCutter {
  private server!: net.Server;
  private armed: { mode: Cut; thenDown: boolean } | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  cuts = 0;
  /** While true, new connections are refused: the database is unreachable. */
  down = false;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      let cut = false;
      upstream.on('data', (chunk) => {
        if (!cut) client.write(chunk);
      });
      client.on('data', (chunk) => {
        const armed = this.armed;
        if (armed !== undefined && !cut && chunk.includes('COMMIT')) {
          const { mode, thenDown } = armed;
          this.armed = undefined;
          cut = true;
          this.cuts++;
          const cutAll = () => {
            client.destroy();
            upstream.destroy();
            if (thenDown) {
              this.down = true;
              for (const s of this.sockets) s.destroy();
            }
          };
          if (mode === 'after-commit') {
            // The server gets the COMMIT and answers; the answer goes nowhere. The client learns
            // of the cut only then, so the commit is done by the time anyone asks about it.
            upstream.write(chunk);
            upstream.once('data', cutAll);
          } else if (mode === 'late-commit') {
            // The client learns of the cut (and asks) while the COMMIT is still on its way.
            client.destroy();
            setTimeout(() => {
              upstream.write(chunk);
              upstream.once('data', () => upstream.destroy());
            }, LATE_COMMIT_MS);
          } else {
            cutAll();
          }
          return;
        }
        if (!cut) upstream.write(chunk);
      });
      client.on('close', () => {
        if (!cut) upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  arm(mode: Cut, options: { thenDown?: boolean } = {}): void {
    this.armed = { mode, thenDown: options.thenDown === true };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The harness's knex config, pointed at the proxy. */
function throughProxy(config: Knex.Config, port: number): Knex.Config {
  const connection = config.connection as string | Record<string, unknown>;
  if (typeof connection === 'string') {
    const url = new URL(connection);
    url.hostname = '127.0.0.1';
    url.port = String(port);
    return { ...config, connection: url.toString() };
  }
  return { ...config, connection: { ...connection, host: '127.0.0.1', port } };
}

function target(config: Knex.Config): { host: string; port: number } {
  const connection = config.connection as string | { host?: string; port?: number };
  if (typeof connection === 'string') {
    const url = new URL(connection);
    return { host: url.hostname, port: Number(url.port || 5432) };
  }
  return { host: connection.host ?? '127.0.0.1', port: Number(connection.port ?? 3306) };
}

forEachDialect('a COMMIT whose answer is lost', (db, dialect) => {
  if (dialect === 'sqlite') return; // In process: a COMMIT cannot lose its answer.
  let proxy: CommitCutter;
  let proxied: Knex;
  let root: string;
  let store: FileSystemStore;
  let cleanup: () => Promise<void>;

  before(async function () {
    await createSchema(db());
    const config = db().client.config as Knex.Config;
    proxy = new CommitCutter(target(config));
    await proxy.start();
    // A short wait for a connection: the test with the database down must not wait a minute.
    proxied = knexFactory({ ...throughProxy(config, proxy.port), acquireConnectionTimeout: 3000 });
    Model.knex(proxied);
  });
  after(async function () {
    await proxied.destroy();
    await proxy.stop();
  });
  beforeEach(async function () {
    ({ store, dir: root, cleanup } = await fsStore(`lost-commit-${dialect}`));
  });
  afterEach(async function () {
    await cleanup();
  });

  /** Rows (read directly, not through the proxy) and files agree, byte for byte for the original. */
  async function assertRowsAndFilesAgree(user: User, original?: Buffer) {
    const rows = await UserPicture.query(db()).where('user_id', user.id);
    const expected = rows.map((r) => path.relative(root, store.pathFor(r))).sort();
    assert.deepEqual(
      (await listTree(root)).filter((f) => !f.endsWith('/') && !f.startsWith('.staging')),
      expected,
      'files are exactly those of the rows',
    );
    assert.deepEqual(
      await listTree(path.join(root, '.staging')).then((f) => f.filter((n) => !n.endsWith('/'))),
      [],
      'nothing is left staged',
    );
    if (original) assert.ok((await readFile(store.pathFor(rows.find((r) => r.original)!))).equals(original));
    return rows;
  }

  const thumbnails = [{ width: 10 }, { width: 20 }];

  it('cut after COMMIT, a new set: the attach succeeds, and its 3 rows have their files', async function () {
    const user = await User.query(db()).insert({ name: 'New' });
    const bytes = await png(60, 40);
    proxy.arm('after-commit');
    const original = await imageSet(user, 'picture').fromBlob(bytes, { store, thumbnails });
    await filesSettled();
    assert.equal(proxy.cuts, 1, 'the link was cut at COMMIT');
    assert.equal(original.width, 60);
    assert.equal((await assertRowsAndFilesAgree(user, bytes)).length, 3);
  });

  it('cut after COMMIT, a replacement: the new set has its files, the old set none', async function () {
    const user = await User.query(db()).insert({ name: 'Replaced' });
    await imageSet(user, 'picture').fromBlob(await png(80, 40), { store, thumbnails });
    const bytes = await png(60, 40);
    proxy.arm('after-commit');
    await imageSet(user, 'picture').fromBlob(bytes, { store, thumbnails });
    await filesSettled();
    const rows = await assertRowsAndFilesAgree(user, bytes);
    assert.deepEqual(
      rows.map((r) => r.width).sort((a, b) => a - b),
      [10, 20, 60],
    );
  });

  it('a COMMIT that reaches the server after the client gave up, a new set: the library waits for it, and the rows have their files', async function () {
    const user = await User.query(db()).insert({ name: 'Late new' });
    const bytes = await png(60, 40);
    proxy.arm('late-commit');
    await imageSet(user, 'picture').fromBlob(bytes, { store, thumbnails });
    await filesSettled();
    assert.equal((await assertRowsAndFilesAgree(user, bytes)).length, 3);
  });

  it('a COMMIT that reaches the server after the client gave up, a same-size replacement: the new bytes are in place', async function () {
    const user = await User.query(db()).insert({ name: 'Late same size' });
    await imageSet(user, 'picture').fromBlob(await png(60, 40), { store, thumbnails });
    const other = await (
      await import('sharp')
    )
      .default({ create: { width: 60, height: 40, channels: 3, background: '#00f' } })
      .png()
      .toBuffer();
    proxy.arm('late-commit');
    await imageSet(user, 'picture').fromBlob(other, { store, thumbnails });
    await filesSettled();
    await assertRowsAndFilesAgree(user, other);
  });

  it('cut after COMMIT, a same-size replacement: the new bytes are in place', async function () {
    const user = await User.query(db()).insert({ name: 'Same size' });
    await imageSet(user, 'picture').fromBlob(await png(60, 40), { store, thumbnails });
    const bytes = Buffer.from(await png(60, 40));
    // Another image of the same size and type: a different colour.
    const other = await (
      await import('sharp')
    )
      .default({ create: { width: 60, height: 40, channels: 3, background: '#f00' } })
      .png()
      .toBuffer();
    proxy.arm('after-commit');
    await imageSet(user, 'picture').fromBlob(other, { store, thumbnails });
    await filesSettled();
    assert.ok(!other.equals(bytes));
    await assertRowsAndFilesAgree(user, other);
  });

  it('cut after COMMIT with the database unreachable: ERR_COMMIT_UNKNOWN, no file removed, settled later', async function () {
    const user = await User.query(db()).insert({ name: 'Unknown' });
    await imageSet(user, 'picture').fromBlob(await png(60, 40), { store, thumbnails });
    const other = await (
      await import('sharp')
    )
      .default({ create: { width: 60, height: 40, channels: 3, background: '#0f0' } })
      .png()
      .toBuffer();
    proxy.arm('after-commit', { thenDown: true });
    try {
      await assert.rejects(
        imageSet(user, 'picture').fromBlob(other, { store, thumbnails }),
        (error: Error & { code?: string }) => error.code === 'ERR_COMMIT_UNKNOWN',
      );
      // The library's own settling, begun once the transaction ended, finds the database down
      // too: the settling below is the one that may reach it.
      await backgroundSettlingDone();
    } finally {
      proxy.down = false;
    }
    await filesSettled();
    // It did commit: every committed row has a file (the same-size ones still the old bytes until settled).
    const rows = await UserPicture.query(db()).where('user_id', user.id);
    for (const row of rows) await readFile(store.pathFor(row));
    assert.deepEqual(await settleInterruptedWrites({ store, knex: db() }), { promoted: 3, discarded: 0, failed: [] });
    await assertRowsAndFilesAgree(user, other);
  });

  it('cut before COMMIT reached the server: the attach fails, the old set keeps its rows and files', async function () {
    const user = await User.query(db()).insert({ name: 'Kept' });
    const old = await png(80, 40);
    await imageSet(user, 'picture').fromBlob(old, { store, thumbnails });
    proxy.arm('before-commit');
    await assert.rejects(imageSet(user, 'picture').fromBlob(await png(60, 40), { store, thumbnails }));
    await filesSettled();
    const rows = await assertRowsAndFilesAgree(user, old);
    assert.deepEqual(
      rows.map((r) => r.width).sort((a, b) => a - b),
      [10, 20, 80],
    );
  });
});
