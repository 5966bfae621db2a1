import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { filesSettled } from '../../src/index.js';
import request from 'supertest';
import sharp from 'sharp';
import { UserPicture } from '../../example/models.js';
import { jpeg, png, pngDeclaring } from '../support/images.js';
import { until } from '../support/hooked-store.js';
import { listTree } from '../support/tmp.js';
import { exampleDatabases, type MountedExample, mountExample } from './harness.js';

/** The `src` of every <img> and `srcset` candidate of a page, as paths on the app. */
function imageUrls(html: string): string[] {
  const urls = [...html.matchAll(/<img [^>]*?src="([^"]+)"/g)].map((m) => m[1]!);
  for (const m of html.matchAll(/srcset="([^"]+)"/g))
    urls.push(...m[1]!.split(', ').map((entry) => entry.split(' ')[0]!));
  return urls.map((url) => url.replace(/&amp;/g, '&').replace(/^https?:\/\/[^/]+/, ''));
}

for (const database of exampleDatabases) {
  describe(`the example app [${database.name}]`, function () {
    let example: MountedExample;
    let photo: Buffer;
    const app = () => example.app;
    const files = async () => (await listTree(path.join(example.dataDir, 'images'))).filter((f) => !f.endsWith('/'));
    /** Temp files are removed once the response is over, a moment after the client has it: poll. */
    const uploadsRemoved = async () => {
      let left: string[] = [];
      const check = async () => (left = await listTree(path.join(example.dataDir, 'uploads'))).length === 0;
      await until(check, 3000, 'the upload temp files to be removed').catch(() =>
        assert.fail(`upload temp files left: ${left.join(', ')}`),
      );
    };

    before(async function () {
      photo = await jpeg(1600, 1200);
      example = await mountExample(database);
    });
    after(async function () {
      await example?.dispose();
    });

    async function newUser(name = 'Ann'): Promise<number> {
      const res = await request(app()).post('/users').type('form').send({ name }).expect(303);
      return Number(/^\/users\/(\d+)$/.exec(res.headers.location!)![1]);
    }

    function upload(id: number, bytes: Buffer, filename = 'photo.jpg') {
      return request(app()).post(`/users/${id}/picture`).attach('picture', bytes, filename);
    }

    /** The page a 303 leads to, with the flash cookie the POST set: what a browser would show. */
    async function followed(res: request.Response): Promise<request.Response> {
      const cookie = res.headers['set-cookie'] as unknown as string[] | undefined;
      const page = request(app()).get(res.headers.location!);
      if (cookie) page.set('Cookie', cookie.map((c) => c.split(';')[0]!).join('; '));
      return page.expect(200);
    }

    describe('GET /', function () {
      it('shows the gallery, empty at first', async function () {
        const res = await request(app())
          .get('/')
          .expect(200)
          .expect('Content-Type', /text\/html/);
        assert.match(res.text, /No users yet/);
      });

      it("shows each user's square avatar: AVIF and WebP sources at 1× and 2×, a 96×96 <img>", async function () {
        const id = await newUser('Gallery person');
        await upload(id, photo).expect(303);
        const res = await request(app()).get('/').expect(200);
        const avatar = (format: string, ext: string) =>
          `[^"]*/user-picture\\.avatar\\.[0-9a-f]{12}/[^"]*\\.96x96\\.${ext}\\?_ts=\\d+ 1x, [^"]*\\.192x192\\.${ext}\\?_ts=\\d+ 2x`;
        assert.match(
          res.text,
          new RegExp(
            `<a href="/users/${id}">\\s*<span class="thumb">\\s*(<!--.*-->)?\\s*<picture><source type="image/avif" srcset="${avatar('avif', 'avif')}"><source type="image/webp" srcset="${avatar('webp', 'webp')}"><img src="[^"]*\\.96x96\\.jpe\\?_ts=\\d+" srcset="${avatar('jpeg', 'jpe')}" width="96" height="96" alt="" loading="lazy"></picture>`,
          ),
        );
        for (const url of imageUrls(res.text)) await request(app()).get(url).expect(200);
      });
    });

    describe('POST /users/:id/picture/focal-point', function () {
      it('stores the focal point and makes the avatar anew around it', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        const before = (await request(app()).get(`/users/${id}`)).text;
        const res = await request(app())
          .post(`/users/${id}/picture/focal-point`)
          .type('form')
          .send({ x: '80', y: '20' })
          .expect(303);
        assert.equal(res.headers.location, `/users/${id}`);
        const page = await followed(res);
        assert.match(
          page.text,
          /<p class="flash done" id="focal-status" role="status">Focal point set to 80% across, 20% down\.<\/p>/,
        );
        assert.match(page.text, /id="focal-x"[^>]* value="80"/);
        assert.match(page.text, /class="focal-mark" style="left: 80%; top: 20%"/);
        const avatarSrc = (html: string) => /<span class="avatar">.*?<img src="([^"]+)"/s.exec(html)![1];
        assert.notEqual(avatarSrc(page.text), avatarSrc(before));
      });

      it('refuses numbers outside 0–100, in words beside the form', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        for (const body of [{ x: '101', y: '5' }, { x: '-1', y: '5' }, { x: 'left', y: '5' }, { x: '5' }]) {
          const page = await followed(
            await request(app()).post(`/users/${id}/picture/focal-point`).type('form').send(body).expect(303),
          );
          assert.match(
            page.text,
            /<p class="flash error" id="focal-status" role="status">Give the focal point as two numbers from 0 to 100\.<\/p>/,
          );
        }
      });
    });

    describe('POST /users', function () {
      it('adds a user and redirects (303) to their page, which says so once', async function () {
        const res = await request(app()).post('/users').type('form').send({ name: '  Zoë <b>  ' }).expect(303);
        assert.match(res.headers.location!, /^\/users\/\d+$/);
        const page = await followed(res);
        assert.match(page.text, /<h1>Zoë &lt;b&gt;<\/h1>/);
        assert.match(page.text, /<p class="flash done" id="page-status" role="status">Added Zoë &lt;b&gt;\.<\/p>/);
        const again = await request(app()).get(res.headers.location!).expect(200);
        assert.doesNotMatch(again.text, /Added Zoë/);
      });

      it('sends a missing or too long name back to the form with a message beside it, shown once', async function () {
        for (const [name, message] of [
          ['', /Type a name for the new user first\./],
          ['   ', /Type a name/],
          ['x'.repeat(101), /A name can be at most 100 characters long\./],
        ] as const) {
          const res = await request(app()).post('/users').type('form').send({ name }).expect(303);
          assert.equal(res.headers.location, '/');
          const page = await followed(res);
          assert.match(
            page.text,
            new RegExp(`<p class="flash error" id="name-status" role="status">${message.source}`),
          );
          // The page cleared the cookie: a reload shows the form alone.
          assert.match(String(page.headers['set-cookie']), /^flash=;/);
        }
      });
    });

    describe('GET /users/:id', function () {
      it('offers the upload form to a user without a picture', async function () {
        const id = await newUser();
        const res = await request(app()).get(`/users/${id}`).expect(200);
        assert.match(res.text, /No picture yet/);
        assert.match(
          res.text,
          new RegExp(
            `<form class="card upload" method="post" action="/users/${id}/picture" enctype="multipart/form-data"`,
          ),
        );
        assert.match(res.text, /<label for="picture">Upload a picture<\/label>/);
        assert.match(res.text, /data-too-large="This file is too big: a picture can be at most 10 MB\."/);
      });

      it('shows the original and its thumbnails through the helpers, every URL served', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        const res = await request(app()).get(`/users/${id}`).expect(200);
        assert.match(
          res.text,
          /<picture><source type="image\/webp" srcset="[^"]+\.800x600\.webp\?_ts=\d+ 800w" sizes="\(max-width: 28rem\) calc\(100vw - 2rem\), 400px"><img src="[^"]+\.400x300\.jpe\?_ts=\d+"/,
        );
        for (const size of ['1600 × 1200', '100 × 75', '400 × 300', '800 × 600'])
          assert.match(res.text, new RegExp(`">${size}</a></td>`));
        const urls = imageUrls(res.text);
        assert.ok(urls.length >= 5);
        for (const url of urls) {
          const image = await request(app())
            .get(url)
            .redirects(1)
            .buffer(true)
            .expect(200)
            .expect('Content-Type', /^image\//);
          assert.ok((await sharp(image.body as Buffer).metadata()).width! > 0);
        }
      });

      it('adds no image to the set by being viewed, images and all; a width opened on demand is listed as such', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        const kinds = async () => {
          const page = await request(app()).get(`/users/${id}`).expect(200);
          // What a browser would load with the page.
          for (const url of imageUrls(page.text)) await request(app()).get(url).redirects(1).expect(200);
          return [...page.text.matchAll(/">(\d+) × \d+<\/a><\/td>\s*<td>\w+<\/td>\s*<td>([^<]+)<\/td>/g)].map(
            (m) => `${m[1]} ${m[2]}`,
          );
        };
        await kinds();
        assert.deepEqual(await kinds(), ['100 thumbnail', '400 thumbnail', '800 thumbnail', '1600 original']);
        assert.equal(await UserPicture.query().where('user_id', id).resultSize(), 4);
        // The page offers the other widths as links; opening one makes it.
        const page = await request(app()).get(`/users/${id}`).expect(200);
        assert.match(page.text, new RegExp(`<a href="/users/${id}/picture\\?width=200">200</a>`));
        await request(app()).get(`/users/${id}/picture?width=200`).expect(200);
        assert.deepEqual(await kinds(), [
          '100 thumbnail',
          '200 thumbnail, made on demand',
          '400 thumbnail',
          '800 thumbnail',
          '1600 original',
        ]);
      });

      it('answers 404 for a user who is not there', async function () {
        for (const id of ['999999', 'abc', '1.5']) {
          const res = await request(app()).get(`/users/${id}`).expect(404);
          assert.match(res.text, /Not found/);
        }
      });
    });

    describe('POST /users/:id/picture', function () {
      it('attaches the upload with thumbnails 100, 400 and 800 (WebP) wide, and redirects back', async function () {
        const id = await newUser();
        const res = await upload(id, photo).expect(303);
        assert.equal(res.headers.location, `/users/${id}`);
        const rows = await UserPicture.query().where('user_id', id).orderBy('width');
        assert.deepEqual(
          rows.map((r) => [r.width, r.height, r.mimetype, r.original]),
          [
            [100, 75, 'image/jpeg', false],
            [400, 300, 'image/jpeg', false],
            [800, 600, 'image/webp', false],
            [1600, 1200, 'image/jpeg', true],
          ],
        );
        assert.deepEqual((await files()).filter((f) => f.startsWith(`user-picture/${id}/`)).length, 4);
        await uploadsRemoved();
      });

      it('makes no thumbnail wider than the original', async function () {
        const id = await newUser();
        await upload(id, await png(300, 200), 'small.png').expect(303);
        const rows = await UserPicture.query().where('user_id', id).orderBy('width');
        assert.deepEqual(
          rows.map((r) => [r.width, r.mimetype]),
          [
            [100, 'image/png'],
            [300, 'image/png'],
          ],
        );
      });

      it("attaches an iPhone's HEIC photo as a JPEG, the right way up", async function () {
        const id = await newUser();
        const heic = await readFile(fileURLToPath(new URL('../fixtures/heic/rotated.heic', import.meta.url)));
        await upload(id, heic, 'IMG_0001.HEIC').expect(303);
        const rows = await UserPicture.query().where('user_id', id);
        assert.deepEqual(
          rows.map((r) => [r.width, r.height, r.mimetype, r.original]),
          [[48, 64, 'image/jpeg', true]],
        );
        await uploadsRemoved();
      });

      it('replaces the whole set, files included', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        await upload(id, await png(120, 90), 'new.png').expect(303);
        await filesSettled();
        assert.deepEqual(
          (await files()).filter((f) => f.startsWith(`user-picture/${id}/`)),
          [`user-picture/${id}/0/${id}.100x75.png`, `user-picture/${id}/0/${id}.120x90.png`],
        );
      });

      const rejected: Array<[string, () => Promise<Buffer>, number, string]> = [
        [
          'a text file',
          async () => Buffer.from('not a picture at all'),
          415,
          'This file isn&#39;t a picture we can read. Try a JPEG, PNG, GIF, WebP, AVIF, TIFF or HEIC file.',
        ],
        [
          'a pixel bomb',
          async () => pngDeclaring(20000, 20000),
          413,
          'This picture is 20000 × 20000 pixels: we take up to 40 megapixels. Make it smaller and try again.',
        ],
        [
          'a truncated JPEG',
          async () => (await jpeg(300, 200)).subarray(0, 700),
          400,
          'This picture is incomplete: its end is missing.',
        ],
        [
          'a file over 10 MiB',
          async () => Buffer.alloc(10 * 1024 * 1024 + 10, 1),
          413,
          'This file is too big: a picture can be at most 10 MB.',
        ],
      ];
      for (const [what, make, status, message] of rejected) {
        it(`sends ${what} back to the form in plain words (303, or ${status} with JSON to the page's script), storing nothing`, async function () {
          const id = await newUser();
          const res = await upload(id, await make(), 'x.jpg').expect(303);
          assert.equal(res.headers.location, `/users/${id}`);
          const page = await followed(res);
          assert.ok(
            page.text.includes(`<p class="flash error" id="picture-status" role="status">${message}`),
            page.text,
          );
          assert.doesNotMatch(page.text, /ERR_/);
          const json = await upload(id, await make(), 'x.jpg')
            .set('Accept', 'application/json')
            .expect(status);
          assert.deepEqual(Object.keys(json.body), ['kind', 'text', 'field']);
          assert.ok(json.body.text.replace(/'/g, '&#39;').startsWith(message), json.body.text);
          assert.equal(json.headers['set-cookie'], undefined, 'the script shows an error itself: no flash');
          assert.equal(await UserPicture.query().where('user_id', id).resultSize(), 0);
          await uploadsRemoved();
        });
      }

      it('asks for a file when the form has none', async function () {
        const id = await newUser();
        const res = await request(app()).post(`/users/${id}/picture`).field('other', 'x').expect(303);
        assert.match((await followed(res)).text, /Choose a picture first\./);
      });

      it('says what was uploaded, once: to the page after the redirect, and to the script as JSON with where to go', async function () {
        const id = await newUser();
        const page = await followed(await upload(id, photo, 'sunset.jpg').expect(303));
        assert.match(page.text, /<p class="flash done" id="page-status" role="status">Uploaded “sunset\.jpg”\.<\/p>/);
        const json = await upload(id, photo, 'sunset.jpg').set('Accept', 'application/json').expect(200);
        assert.deepEqual(json.body, { kind: 'done', text: 'Uploaded “sunset.jpg”.', next: `/users/${id}` });
      });

      it('answers 404 for a user who is not there, storing nothing', async function () {
        await upload(999999, photo).expect(404);
        await uploadsRemoved();
      });
    });

    describe('POST /users/:id/picture/delete', function () {
      it('removes the picture, rows and files, and redirects back', async function () {
        const id = await newUser();
        await upload(id, photo).expect(303);
        const confirm = await request(app()).get(`/users/${id}/picture/delete`).expect(200);
        assert.match(confirm.text, /<h1>Delete Ann&#39;s picture\?<\/h1>/);
        assert.match(confirm.text, /4 image files/);
        assert.match(confirm.text, new RegExp(`<form method="post" action="/users/${id}/picture/delete"`));
        assert.equal(await UserPicture.query().where('user_id', id).resultSize(), 4, 'asking deletes nothing');
        const res = await request(app()).post(`/users/${id}/picture/delete`).expect(303);
        assert.equal(res.headers.location, `/users/${id}`);
        assert.match((await followed(res)).text, /Picture deleted\./);
        await filesSettled();
        assert.equal(await UserPicture.query().where('user_id', id).resultSize(), 0);
        assert.deepEqual(
          (await files()).filter((f) => f.startsWith(`user-picture/${id}/`)),
          [],
        );
        assert.match((await request(app()).get(`/users/${id}`)).text, /No picture yet/);
      });
    });

    describe('POST /users/:id/delete', function () {
      it('asks first, then deletes the user with their images, rows and files (ImageOwner)', async function () {
        const id = await newUser('Bo');
        await upload(id, photo).expect(303);
        const confirm = await request(app()).get(`/users/${id}/delete`).expect(200);
        assert.match(confirm.text, /<h1>Delete Bo\?<\/h1>/);
        assert.match(confirm.text, /This deletes Bo and their picture: 4 image files\./);
        const res = await request(app()).post(`/users/${id}/delete`).expect(303);
        assert.equal(res.headers.location, '/');
        assert.match((await followed(res)).text, /Deleted Bo\./);
        await filesSettled();
        assert.equal(await UserPicture.query().where('user_id', id).resultSize(), 0);
        assert.deepEqual(
          (await files()).filter((f) => f.startsWith(`user-picture/${id}/`)),
          [],
        );
        await request(app()).get(`/users/${id}`).expect(404);
      });
    });

    describe('GET /users/:id/picture?width=N', function () {
      let id: number;
      before(async function () {
        id = await newUser();
        await upload(id, photo).expect(303);
      });

      it('makes an allowed width on demand and answers with it', async function () {
        const res = await request(app()).get(`/users/${id}/picture?width=200`).buffer(true).expect(200);
        assert.equal(res.headers['content-type'], 'image/jpeg');
        assert.equal((await sharp(res.body as Buffer).metadata()).width, 200);
        await request(app()).get(`/users/${id}/picture?width=200`).set('If-None-Match', res.headers.etag!).expect(304);
      });

      it('answers with a thumbnail made at upload for its width', async function () {
        const res = await request(app()).get(`/users/${id}/picture?width=800`).buffer(true).expect(200);
        assert.equal(res.headers['content-type'], 'image/webp');
      });

      it('answers 400 for any other width', async function () {
        for (const width of ['300', '1600', '0', 'x']) {
          const res = await request(app()).get(`/users/${id}/picture?width=${width}`).expect(400);
          assert.match(
            res.text,
            /We don&#39;t make that: the address asks for a size or option this page doesn&#39;t offer\./,
          );
          assert.doesNotMatch(res.text, /ERR_|Expected/);
        }
      });

      it('answers 404 for a user who is not there', async function () {
        await request(app()).get('/users/999999/picture?width=100').expect(404);
      });
    });

    describe('the rest', function () {
      it('serves the stylesheet', async function () {
        await request(app())
          .get('/static/style.css')
          .expect(200)
          .expect('Content-Type', /text\/css/);
      });

      it('answers 404 with a page for unknown paths', async function () {
        const res = await request(app()).get('/nowhere').expect(404);
        assert.match(res.text, /Nothing here: GET \/nowhere/);
      });
    });
  });
}
