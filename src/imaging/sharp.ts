/**
 * sharp, loaded the first time an image is processed. Loading libvips takes about half a second,
 * which an app that only reads image rows, or a CLI answering `--help`, should not pay at import.
 * As it loads, only the loaders of the allowed image types are left usable (decoders.ts).
 */
import { createRequire } from 'node:module';
import type SharpModule from 'sharp';
import type { Sharp, SharpInput, SharpOptions } from 'sharp';
import { applyDecoderAllowList } from './decoders.js';

let factory: typeof SharpModule | undefined;

/** sharp's module itself (`format`, `versions`, `block`…), loaded with the decoder allow-list applied. */
export function sharpModule(): typeof SharpModule {
  if (factory === undefined) {
    const loaded = createRequire(import.meta.url)('sharp') as typeof SharpModule;
    applyDecoderAllowList(loaded);
    factory = loaded;
  }
  return factory;
}

/** `sharp(input, options)` or `sharp(options)`, as sharp's own default export. */
export function sharp(options?: SharpOptions): Sharp;
export function sharp(input: SharpInput | undefined, options?: SharpOptions): Sharp;
export function sharp(input?: SharpInput | SharpOptions, options?: SharpOptions): Sharp {
  const make = sharpModule() as unknown as (input?: SharpInput | SharpOptions, options?: SharpOptions) => Sharp;
  return options === undefined ? make(input) : make(input, options);
}
