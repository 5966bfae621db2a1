/**
 * Which of libvips' image loaders sharp may use in this process. libvips can load dozens of
 * formats (its own `.v` files, CSV and matrix files, FITS, PDF and more, depending on the build),
 * and every loader is code an attacker can reach with crafted bytes. Attach checks an upload's
 * type from its header before decoding, but bytes also reach sharp by other paths (a stored
 * original made into thumbnails, a caller's own probe), and a loader that is blocked cannot be
 * exploited by any of them. So when this library loads sharp, it blocks every loader
 * (`sharp.block({ operation: ['VipsForeignLoad'] })`) and unblocks those of the allowed types.
 *
 * The allowed types are {@link DEFAULT_IMAGE_TYPES} (so not SVG), widened by every `types` limit
 * as it is configured (a relation's, an image class's, `imageUpload()`'s, an attach call's) and
 * by {@link allowDecoders}; {@link restrictDecoders} sets them exactly instead. libvips keeps
 * one list per process: sharp calls of the app's own are restricted alike.
 */
import type SharpModule from 'sharp';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_IMAGE_TYPES, READABLE_IMAGE_TYPES } from './image-types.js';

/** The libvips loader class of each type; a parent class unblocks its file, buffer and stream loaders. */
const LOADER_OF_TYPE: Readonly<Record<string, string>> = {
  'image/jpeg': 'VipsForeignLoadJpeg',
  'image/png': 'VipsForeignLoadPng',
  'image/gif': 'VipsForeignLoadNsgif',
  'image/webp': 'VipsForeignLoadWebp',
  'image/avif': 'VipsForeignLoadHeif',
  // Only a libvips with an HEVC decoder reads these; without one, heic.ts decodes them.
  'image/heic': 'VipsForeignLoadHeif',
  'image/heif': 'VipsForeignLoadHeif',
  'image/tiff': 'VipsForeignLoadTiff',
  'image/svg+xml': 'VipsForeignLoadSvg',
};

/** Every loader: blocking it blocks them all. */
const ALL_LOADERS = 'VipsForeignLoad';

type Sharp = Pick<typeof SharpModule, 'block' | 'unblock'>;

interface AllowList {
  allowed: Set<string>;
  /** `exact` after restrictDecoders(types): configured limits no longer widen the list. */
  mode: 'widening' | 'exact' | 'unrestricted';
  loaded: Sharp | undefined;
}

/**
 * Kept on the process, not in this module: libvips has one list per process, and this module may
 * be loaded twice (once by `require`, once by `import`, or two copies of the package), and a copy
 * that knew nothing of the other's list would block what the other allowed.
 */
const state: AllowList = ((globalThis as Record<symbol, AllowList | undefined>)[
  Symbol.for('objection-imageattach.decoder-allow-list')
] ??= { allowed: new Set<string>(DEFAULT_IMAGE_TYPES), mode: 'widening', loaded: undefined });

/**
 * Lets sharp decode `types` in this process too, on top of what is allowed already. Needed only
 * for sharp calls of your own (attach widens the list with the `types` of its limits), or after
 * {@link restrictDecoders}.
 * @param types mimetypes among `image/jpeg`, `image/png`, `image/gif`, `image/webp`, `image/avif`,
 *   `image/heic`, `image/heif`, `image/tiff`, `image/svg+xml`
 * @throws InvalidArgumentError for a type the library cannot read
 * @example
 * allowDecoders(['image/svg+xml']); // your own sharp code renders SVG
 */
export function allowDecoders(types: readonly string[]): void {
  checkTypes(types, 'types');
  for (const type of types) state.allowed.add(type);
  if (state.mode === 'unrestricted') return;
  apply();
}

/**
 * Sets the types sharp may decode in this process to exactly `types`: a `types` limit naming
 * another type no longer widens the list, and such an image is refused as an unsupported type
 * (`ERR_IMAGE_UNSUPPORTED_TYPE`), thumbnails of stored originals included. `false` lifts the
 * restriction: every loader of libvips is usable again, as sharp has it without this library.
 * @throws InvalidArgumentError for a type the library cannot read, or an empty list
 * @example
 * restrictDecoders(['image/jpeg', 'image/png', 'image/webp']);
 */
export function restrictDecoders(types: readonly string[] | false): void {
  if (types === false) {
    state.mode = 'unrestricted';
  } else {
    checkTypes(types, 'types');
    if (types.length === 0) throw new InvalidArgumentError('types', 'a non-empty list of image types, or false', types);
    state.allowed = new Set(types);
    state.mode = 'exact';
  }
  apply();
}

/** The types sharp may decode in this process, or `undefined` after `restrictDecoders(false)`. */
export function allowedDecoders(): readonly string[] | undefined {
  return state.mode === 'unrestricted' ? undefined : [...state.allowed];
}

/** Widens the list with a configured `types` limit (a no-op after {@link restrictDecoders}). */
export function allowConfiguredTypes(types: readonly string[]): void {
  if (state.mode !== 'widening' || types.every((type) => state.allowed.has(type))) return;
  for (const type of types) state.allowed.add(type);
  apply();
}

/** Applies the list to sharp as it is loaded (sharp.ts), and to every change after. */
export function applyDecoderAllowList(sharp: Sharp): void {
  state.loaded = sharp;
  apply();
}

function apply(): void {
  if (state.loaded === undefined) return;
  if (state.mode === 'unrestricted') {
    state.loaded.unblock({ operation: [ALL_LOADERS] });
    return;
  }
  state.loaded.block({ operation: [ALL_LOADERS] });
  state.loaded.unblock({ operation: [...new Set([...state.allowed].map((type) => LOADER_OF_TYPE[type]!))] });
}

function checkTypes(types: unknown, name: string): asserts types is readonly string[] {
  if (!Array.isArray(types)) throw new InvalidArgumentError(name, 'a list of image types', types);
  const bad = types.findIndex((type) => !READABLE_IMAGE_TYPES.includes(type as string));
  if (bad >= 0)
    throw new InvalidArgumentError(`${name}[${bad}]`, `one of ${READABLE_IMAGE_TYPES.join(', ')}`, types[bad]);
}
