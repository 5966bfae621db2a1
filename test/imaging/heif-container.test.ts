import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { bytesReadAt } from '../../src/imaging/block-reader.js';
import { heifBrandOf, MalformedHeif, readHeifContainer } from '../../src/imaging/heif-container.js';
import { probeImage, resolveLimits } from '../../src/imaging/probe.js';
import { removeDir, tempDir } from '../support/tmp.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/heic');
const fixture = (name: string) => readFile(path.join(fixtures, name));
const container = (bytes: Buffer) => readHeifContainer(bytesReadAt(bytes), bytes.length);

describe('reading a HEIF container without decoding it', function () {
  it('reads the primary image: coding, size as displayed, rotation, ICC profile', async function () {
    const plain = await container(await fixture('plain.heic'));
    assert.deepEqual(
      [plain.mimetype, plain.coding, plain.width, plain.height, plain.rotation, plain.truncated],
      ['image/heic', 'hevc', 64, 48, 0, false],
    );
    assert.ok(plain.icc !== undefined && plain.icc.toString('latin1', 36, 40) === 'acsp', 'an ICC profile');
    const rotated = await container(await fixture('rotated.heic'));
    assert.deepEqual([rotated.width, rotated.height, rotated.rotation], [48, 64, 270]);
  });

  it('finds the primary among several images, by pitm, not by order', async function () {
    const multi = await container(await fixture('multi.heic'));
    assert.deepEqual([multi.width, multi.height, multi.topLevelImages, multi.primaryIndex], [48, 32, 2, 1]);
  });

  it('tells a file cut in its image data from a whole one', async function () {
    assert.equal((await container(await fixture('truncated.heic'))).truncated, true);
  });

  it('tells HEIC brands from AVIF ones, and a generic mif1 file by its content', async function () {
    const plain = await fixture('plain.heic');
    assert.equal(heifBrandOf(plain), 'heic');
    const mif1 = Buffer.from(plain);
    mif1.write('mif1', 8, 'latin1');
    assert.equal(heifBrandOf(mif1), 'heif');
    assert.equal((await container(mif1)).mimetype, 'image/heif');
    const avif = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } })
      .avif()
      .toBuffer();
    assert.equal(heifBrandOf(avif), undefined);
    assert.equal(heifBrandOf(Buffer.from('not an image at all, not even close')), undefined);
  });

  it('refuses a box that runs past its parent, and survives any single corrupt byte of the meta box', async function () {
    const plain = await fixture('plain.heic');
    const metaStart = plain.readUInt32BE(0); // after ftyp
    assert.equal(plain.toString('latin1', metaStart + 4, metaStart + 8), 'meta');
    const metaEnd = metaStart + plain.readUInt32BE(metaStart);
    let malformed = 0;
    for (let at = metaStart; at < metaEnd; at++) {
      for (const value of [0x00, 0xff, 0x7f, 0x01]) {
        const bytes = Buffer.from(plain);
        bytes[at] = value;
        try {
          await container(bytes);
        } catch (error) {
          // Only ever our own error, never a RangeError from reading past a buffer.
          assert.ok(error instanceof MalformedHeif, `byte ${at} = ${value}: ${(error as Error).stack}`);
          malformed++;
        }
      }
    }
    assert.ok(malformed > 0);
  });

  describe('probing', function () {
    let dir: string;
    before(async () => (dir = await tempDir('heif-container')));
    after(() => removeDir(dir));

    it('gives a HEIC its type and displayed size from a file and from bytes, decoding nothing', async function () {
      const heic = await fixture('rotated.heic');
      const file = path.join(dir, 'photo.heic');
      await writeFile(file, heic);
      for (const input of [heic, file]) {
        const probed = await probeImage(input, heic.length, resolveLimits());
        assert.deepEqual(probed, {
          mimetype: 'image/heic',
          width: 48,
          height: 64,
          size: heic.length,
          pixels: 3072,
          orientation: 1,
          decoded: false,
        });
      }
    });

    it('leaves AVIF to sharp', async function () {
      const avif = await sharp({ create: { width: 8, height: 6, channels: 3, background: 'red' } })
        .avif()
        .toBuffer();
      const probed = await probeImage(avif, avif.length, resolveLimits());
      assert.deepEqual([probed.mimetype, probed.width, probed.height], ['image/avif', 8, 6]);
    });
  });
});
