import assert from 'node:assert/strict';
import sharp from 'sharp';
import { InvalidImageError } from '../../src/errors.js';
import { checkProbed, DEFAULT_LIMITS, probeImage, resolveLimits } from '../../src/imaging/probe.js';
import { messageFor } from '../../example/messages.js';

/**
 * An animated GIF whose canvas is `width`×`height` and whose `frames` frames are each one pixel:
 * a few bytes per frame, a whole canvas to decode per frame (the shape of the 936-byte GIF of
 * 39 frames of 1000×1000 that cost 2.1 s).
 */
function pixelFrames(width: number, height: number, frames: number): Buffer {
  const screen = Buffer.alloc(7);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  screen[4] = 0x80; // a global colour table of 2 colours
  const parts = [Buffer.from('GIF89a', 'latin1'), screen, Buffer.from([0, 0, 0, 255, 255, 255])];
  parts.push(Buffer.from([0x21, 0xff, 0x0b, ...Buffer.from('NETSCAPE2.0', 'latin1'), 0x03, 0x01, 0x00, 0x00, 0x00]));
  for (let i = 0; i < frames; i++) {
    const descriptor = Buffer.alloc(10);
    descriptor[0] = 0x2c;
    descriptor.writeUInt16LE(i % width, 1);
    descriptor.writeUInt16LE(1, 5);
    descriptor.writeUInt16LE(1, 7);
    // Graphic control (10 ms), the 1×1 frame, its LZW data: clear, pixel 0, end.
    parts.push(
      Buffer.from([0x21, 0xf9, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00]),
      descriptor,
      Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00]),
    );
  }
  parts.push(Buffer.from([0x3b]));
  return Buffer.concat(parts);
}

/** An animation whose frames carry real data (noise): many bytes for its pixels. */
async function busyAnimation(width: number, height: number, frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * frames * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919 + (i >> 7) * 31) % 251;
  return sharp(raw, { raw: { width, height: height * frames, channels: 3, pageHeight: height } as never })
    .gif({ effort: 1 })
    .toBuffer();
}

describe('the decode cost of an animation', function () {
  it('refuses an animation declaring far more pixels than its bytes carry (413 ERR_IMAGE_TOO_MANY_FRAMES), before decoding', async function () {
    const bomb = pixelFrames(1000, 1000, 39);
    const { pages, width } = await sharp(bomb).metadata();
    assert.deepEqual([bomb.length < 1000, pages, width], [true, 39, 1000]);
    await assert.rejects(
      probeImage(bomb, bomb.length, DEFAULT_LIMITS),
      (e: unknown) =>
        e instanceof InvalidImageError &&
        e.code === 'ERR_IMAGE_TOO_MANY_FRAMES' &&
        e.statusCode === 413 &&
        /at most 1000 pixels per byte/.test(e.message),
    );
  });

  it('carries the numbers its words need: no "NaN megapixels" (regression: it reused ERR_IMAGE_TOO_MANY_PIXELS without maxPixels)', async function () {
    const bomb = pixelFrames(1000, 1000, 39);
    const error = await probeImage(bomb, bomb.length, DEFAULT_LIMITS).then(
      () => assert.fail('accepted'),
      (e: InvalidImageError) => e,
    );
    assert.equal(
      error.message,
      `Expected an animation of at most 1000 pixels per byte but the image declares 1000×1000×39 frames (39000000 pixels) in ${bomb.length} bytes`,
    );
    assert.deepEqual(error.data, {
      width: 1000,
      height: 1000,
      frames: 39,
      pixels: 39_000_000,
      size: bomb.length,
      maxAnimationPixelsPerByte: 1000,
    });
    assert.equal(
      messageFor(error),
      'This animation has 39 frames of 1000 × 1000 pixels: too many for its size. Send fewer frames or a smaller one.',
    );
  });

  it('accepts real animations, and small ones whatever their bytes', async function () {
    const busy = await busyAnimation(200, 150, 10);
    assert.equal((await probeImage(busy, busy.length, DEFAULT_LIMITS)).pixels, 200 * 150 * 10);
    const small = pixelFrames(100, 100, 10);
    assert.equal((await probeImage(small, small.length, DEFAULT_LIMITS)).width, 100);
  });

  it('is a limit of its own (maxAnimationPixelsPerByte), also applied to an earlier probe', async function () {
    const bomb = pixelFrames(1000, 1000, 39);
    const relaxed = resolveLimits({ maxAnimationPixelsPerByte: Infinity });
    const probed = await probeImage(bomb, bomb.length, relaxed, { decode: false });
    assert.throws(() => checkProbed(probed, DEFAULT_LIMITS), { code: 'ERR_IMAGE_TOO_MANY_FRAMES' });
    assert.throws(() => resolveLimits({ maxAnimationPixelsPerByte: 0 }), {
      message:
        'Expected a number > 0 (Infinity for no limit) for maxAnimationPixelsPerByte but received 0 of type number',
    });
  });
});
