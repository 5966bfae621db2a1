import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { allowDecoders, restrictDecoders } from '../../src/imaging/decoders.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'children/decoders.ts');

/** What a fresh process decodes after `scenario` (the allow-list is libvips's, one per process). */
async function decodesAfter(scenario: string): Promise<Record<string, string>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--conditions=objection-imageattach-source', child, scenario],
    { encoding: 'utf8' },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, string>;
}

const UNSUPPORTED = 'Input buffer contains unsupported image format';

describe('only the decoders of the allowed types', function () {
  this.timeout(30_000);

  it('by default: the default types decode, SVG does not, even by a sharp call with no probe in front', async function () {
    const result = await decodesAfter('default');
    assert.equal(result.jpeg, 'decoded');
    assert.equal(result.tiff, 'decoded');
    assert.equal(result.svg, UNSUPPORTED);
    // The list is the process's: the app's own sharp is restricted alike.
    assert.equal(result["svg (app's sharp)"], UNSUPPORTED);
  });

  it('refuses a TIFF when TIFF is not allowed, by a direct sharp call and through the probe', async function () {
    for (const scenario of ['restrict', 'restrict-before-load']) {
      const result = await decodesAfter(scenario);
      assert.equal(result.tiff, UNSUPPORTED, scenario);
      assert.equal(result["tiff (app's sharp)"], UNSUPPORTED, scenario);
      // The limits accept TIFF, the process does not: a 415, not a decode.
      assert.equal(result['tiff probed'], 'ERR_IMAGE_UNSUPPORTED_TYPE', scenario);
      assert.equal(result.jpeg, 'decoded', scenario);
    }
  });

  it('lets SVG decode once a types limit names it, or allowDecoders() does', async function () {
    for (const scenario of ['svg-configured', 'allow-svg']) {
      const result = await decodesAfter(scenario);
      assert.equal(result.svg, 'decoded', scenario);
      assert.equal(result.tiff, 'decoded', scenario);
    }
  });

  it('keeps one list for the process when the module is loaded twice (require and import)', async function () {
    const result = await decodesAfter('second-copy');
    assert.equal(result.svg, 'decoded');
    assert.equal(result.tiff, 'decoded');
  });

  it('lifts the restriction with restrictDecoders(false)', async function () {
    const result = await decodesAfter('unrestricted');
    assert.deepEqual([result.svg, result.tiff, result.jpeg], ['decoded', 'decoded', 'decoded']);
  });

  it('names a type it cannot read, and changes nothing', function () {
    assert.throws(() => allowDecoders(['image/bmp']), {
      code: 'ERR_INVALID_ARGUMENT',
      message:
        'Expected one of image/jpeg, image/png, image/gif, image/webp, image/avif, image/tiff, image/heic, image/heif, image/svg+xml for types[0] but received "image/bmp" of type string',
    });
    assert.throws(() => restrictDecoders([]), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => restrictDecoders('image/jpeg' as never), { code: 'ERR_INVALID_ARGUMENT' });
  });
});
