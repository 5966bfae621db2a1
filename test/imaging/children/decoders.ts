/**
 * A child process for the decoder allow-list tests (the list is libvips's, one per process):
 * runs `scenario`, then tries to decode a TIFF, an SVG and a JPEG by calling sharp directly
 * (src/imaging/sharp.ts, no probe in front), and prints one JSON line: each type's outcome.
 *
 * argv: <scenario>
 */
import sharpPackage from 'sharp';
import { allowDecoders, restrictDecoders } from '../../../src/imaging/decoders.js';
import { probeImage, resolveLimits } from '../../../src/imaging/probe.js';
import { sharp } from '../../../src/imaging/sharp.js';
import { DEFAULT_IMAGE_TYPES } from '../../../src/imaging/image-types.js';

const scenario = process.argv[2];

// Made by sharp before the library loads it (and so before any loader is blocked).
const base = () => sharpPackage({ create: { width: 8, height: 8, channels: 3, background: 'teal' } });
const samples: Record<string, Buffer> = {
  tiff: await base().tiff().toBuffer(),
  jpeg: await base().jpeg().toBuffer(),
  svg: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'),
};

if (scenario === 'restrict-before-load') restrictDecoders(['image/jpeg', 'image/png']);
sharp(samples.jpeg); // loads sharp: the allow-list applies from here
if (scenario === 'restrict') restrictDecoders(['image/jpeg', 'image/png']);
if (scenario === 'svg-configured') resolveLimits({ types: [...DEFAULT_IMAGE_TYPES, 'image/svg+xml'] });
if (scenario === 'allow-svg') allowDecoders(['image/svg+xml']);
if (scenario === 'unrestricted') restrictDecoders(false);
if (scenario === 'second-copy') {
  // SVG allowed through this copy of the module, then a second copy (as `require` and `import` of
  // one package make) loads sharp: it must not block what the first allowed.
  allowDecoders(['image/svg+xml']);
  const copy = (await import(
    `../../../src/imaging/decoders.ts?copy=${Date.now()}`
  )) as typeof import('../../../src/imaging/decoders.js');
  copy.applyDecoderAllowList(sharpPackage);
}

const outcome = async (decode: () => Promise<unknown>) =>
  decode().then(
    () => 'decoded',
    (error: Error & { code?: string }) => error.code ?? error.message.split('\n')[0],
  );

const result: Record<string, string> = {};
for (const [type, bytes] of Object.entries(samples)) {
  result[type] = await outcome(() => sharp(bytes).raw().toBuffer());
  // sharp as the app imports it shares libvips, and its list.
  result[`${type} (app's sharp)`] = await outcome(() => sharpPackage(bytes).raw().toBuffer());
}
// And through the probe, with limits that accept TIFF.
result['tiff probed'] = await outcome(() => probeImage(samples.tiff!, samples.tiff!.length, resolveLimits()));
process.stdout.write(`${JSON.stringify(result)}\n`);
