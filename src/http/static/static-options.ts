/**
 * The options of `staticServer()`, checked once when it is called (not per request), with
 * messages that name the option, what it takes and what came.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
import * as check from '../../util/check.js';
import { ContentCache, type ContentCacheOptions } from './content-cache.js';
import type { StaticServerOptions } from './static-server.js';

export interface ValidOptions {
  root: string;
  prefix: string;
  blockSize: number;
  cacheControl: string;
  fallthrough: boolean;
  cache: ContentCache | null;
}

const MAX_BLOCK_SIZE = 1024 * 1024 * 1024;

export function validateOptions(options: StaticServerOptions): ValidOptions {
  check.object(options, 'options', 'an object with a root folder');
  const {
    root,
    prefix = '/',
    blockSize = 64 * 1024,
    maxAge = 0,
    immutable = false,
    fallthrough = true,
    cache = {},
  } = options;
  check.folderPath(root, 'options.root');
  if (typeof prefix !== 'string' || !(/^\/*$/.test(prefix) || isUrlPath(prefix))) {
    throw new InvalidArgumentError('options.prefix', 'a URL path like "/" or "/static/images"', prefix);
  }
  check.integerIn(blockSize, 1, MAX_BLOCK_SIZE, 'options.blockSize', 'bytes');
  check.integerAtLeast(maxAge, 0, 'options.maxAge', 'seconds');
  check.boolean(immutable, 'options.immutable');
  check.boolean(fallthrough, 'options.fallthrough');
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return {
    root: path.resolve(root),
    prefix: trimmed === '' ? '' : `/${trimmed}`,
    blockSize,
    cacheControl: `public, max-age=${maxAge}${immutable ? ', immutable' : ''}`,
    fallthrough,
    cache: validateCache(cache),
  };
}

const MAX_CACHE_BYTES = 2 ** 40;

/** `options.cache` as a content cache, or null for `false`. @throws InvalidArgumentError */
export function validateCache(cache: unknown): ContentCache | null {
  if (cache === false) return null;
  if (cache === null || typeof cache !== 'object' || Array.isArray(cache)) {
    throw new InvalidArgumentError('options.cache', 'false or an object { maxBytes?, maxFileBytes? }', cache);
  }
  const { maxBytes = 32 * 1024 * 1024, maxFileBytes = 1024 * 1024 } = cache as ContentCacheOptions;
  check.integerIn(maxBytes, 1, MAX_CACHE_BYTES, 'options.cache.maxBytes', 'bytes');
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1 || maxFileBytes > maxBytes) {
    throw new InvalidArgumentError(
      'options.cache.maxFileBytes',
      `an integer from 1 to options.cache.maxBytes (${maxBytes})`,
      maxFileBytes,
    );
  }
  return new ContentCache(maxBytes, maxFileBytes);
}

/** `static/images`, `/a/b/`: unreserved characters only, and no `.` or `..` segment. */
function isUrlPath(prefix: string): boolean {
  return /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/.test(prefix) && !/(^|\/)\.\.?(\/|$)/.test(prefix);
}
