// Drives the README's quick start app, started by run.sh from the README's own command, as a
// newcomer would in a browser: add a user with the form, upload a picture, see the page and the
// image; then the refusals (not an image, too large, an id that is no number) and a second start
// on the same port. Copied next to the app; run with the app's origin and its start command.
// usage: node readme-check.mjs http://127.0.0.1:PORT "<start command>"
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import sharp from 'sharp';

const [origin, startCommand] = process.argv.slice(2);

const home = await fetch(`${origin}/`);
assert.equal(home.status, 200);
assert.match(await home.text(), /<form method="post" action="\/users">/);

const added = await fetch(`${origin}/users`, {
  method: 'POST',
  body: new URLSearchParams({ name: 'Ada <Lovelace>' }),
  redirect: 'manual',
});
assert.equal(added.status, 303);
const userUrl = origin + added.headers.get('location');
assert.match(await (await fetch(userUrl)).text(), /No picture yet/);

const jpeg = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#c33' } })
  .jpeg()
  .toBuffer();
const form = new FormData();
form.append('picture', new Blob([jpeg], { type: 'image/jpeg' }), 'ada.jpg');
const uploaded = await fetch(`${userUrl}/picture`, { method: 'POST', body: form, redirect: 'manual' });
assert.equal(uploaded.status, 303, await uploaded.text());

const page = await (await fetch(userUrl)).text();
const src = /<img src="([^"]+)"/.exec(page)?.[1];
assert.ok(src?.includes('.200x150.jpe?_ts='), page);
assert.match(page, /alt="Picture of Ada &lt;Lovelace&gt;"/);
// The square avatar: a WebP <source> at 1× and 2×, and a 96×96 <img> of its JPEG output.
assert.match(
  page,
  /<source type="image\/webp" srcset="[^"]+\.96x96\.webp\?_ts=\d+ 1x, [^"]+\.192x192\.webp\?_ts=\d+ 2x">/,
);
const avatarSrc = /<img src="([^"]+\.96x96\.jpe\?_ts=\d+)"[^>]* width="96" height="96" alt="">/.exec(page)?.[1];
assert.ok(avatarSrc, page);
const avatar = await fetch(origin + avatarSrc.replaceAll('&amp;', '&'));
assert.equal(avatar.status, 200);
assert.deepEqual(
  await sharp(Buffer.from(await avatar.arrayBuffer()))
    .metadata()
    .then(({ width, height }) => ({ width, height })),
  { width: 96, height: 96 },
);
const image = await fetch(origin + src.replaceAll('&amp;', '&'));
assert.equal(image.status, 200);
assert.equal(image.headers.get('content-type'), 'image/jpeg');
assert.deepEqual(
  await sharp(Buffer.from(await image.arrayBuffer()))
    .metadata()
    .then(({ width, height }) => ({ width, height })),
  { width: 200, height: 150 },
);

// Refused by imageErrors(): a plain message, no stack.
const notImage = new FormData();
notImage.append('picture', new Blob([Buffer.from('not an image')], { type: 'image/jpeg' }), 'x.jpg');
const refused = await fetch(`${userUrl}/picture`, { method: 'POST', body: notImage });
assert.equal(refused.status, 415);
assert.match(refused.headers.get('content-type'), /^text\/plain/);
assert.doesNotMatch(await refused.text(), /\n\s+at |node_modules/);

// 50 MB declared: answered 413 at once, without the body being read.
const tooLarge = await new Promise((resolve, reject) => {
  const { hostname, port } = new URL(origin);
  const socket = net.connect(Number(port), hostname);
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk));
  socket.on('error', () => {});
  socket.on('close', () => resolve(answer));
  setTimeout(() => reject(new Error(`no answer to a 50 MB upload in 5 s: ${answer}`)), 5000).unref();
  socket.write(
    `POST ${new URL(userUrl).pathname}/picture HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000\r\n\r\n`,
  );
  socket.write(Buffer.alloc(1024 * 1024));
});
assert.match(tooLarge, /^HTTP\/1\.1 413 /);
assert.match(tooLarge, /\r\nConnection: close\r\n/i);

assert.equal((await fetch(`${origin}/users/abc`)).status, 404);
assert.equal((await fetch(`${origin}/users/99999`)).status, 404);

// A second start on the same port fails with the reason.
const second = spawnSync('bash', ['-c', startCommand], {
  env: { ...process.env, PORT: new URL(origin).port },
  encoding: 'utf8',
  timeout: 30_000,
});
assert.notEqual(second.status, 0, 'a second app on the same port exited with 0');
assert.match(second.stderr, /EADDRINUSE/);

console.log('readme: the quick start runs as written (a user, an upload, the page, the image, the refusals)');
