/**
 * sharp, loaded the first time an image is processed. Loading libvips takes about half a second,
 * which an app that only reads image rows, or a CLI answering `--help`, should not pay at import.
 */
import { createRequire } from 'node:module';
import type { Sharp, SharpInput, SharpOptions } from 'sharp';

type SharpFactory = (input?: SharpInput | SharpOptions, options?: SharpOptions) => Sharp;

let factory: SharpFactory | undefined;

/** `sharp(input, options)` or `sharp(options)`, as sharp's own default export. */
export function sharp(options?: SharpOptions): Sharp;
export function sharp(input: SharpInput | undefined, options?: SharpOptions): Sharp;
export function sharp(input?: SharpInput | SharpOptions, options?: SharpOptions): Sharp {
  factory ??= createRequire(import.meta.url)('sharp') as SharpFactory;
  return options === undefined ? factory(input) : factory(input, options);
}
