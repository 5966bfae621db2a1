/**
 * The options of `staticServer()`, checked once when it is called (not per request), with
 * messages that name the option, what it takes and what came.
 */
import path from 'node:path';
import { InvalidArgumentError } from '../../errors.js';
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
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'an object with a root folder', options);
  }
  const { root, prefix = '/', blockSize = 64 * 1024, maxAge = 0, immutable = false, fallthrough = true, cache = {} } = options;
  if (typeof root !== 'string' || root === '' || root.includes('\0')) {
    throw new InvalidArgumentError('options.root', 'a folder path (a non-empty string)', root);
  }
  if (typeof prefix !== 'string' || !(/^\/*$/.test(prefix) || isUrlPath(prefix))) {
    throw new InvalidArgumentError('options.prefix', 'a URL path like "/" or "/static/images"', prefix);
  }
  if (!Number.isSafeInteger(blockSize) || blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
    throw new InvalidArgumentError('options.blockSize', `an integer between 1 and ${MAX_BLOCK_SIZE} (bytes)`, blockSize);
  }
  if (!Number.isSafeInteger(maxAge) || maxAge < 0) {
    throw new InvalidArgumentError('options.maxAge', 'an integer >= 0 (seconds)', maxAge);
  }
  if (typeof immutable !== 'boolean') throw new InvalidArgumentError('options.immutable', 'a boolean', immutable);
  if (typeof fallthrough !== 'boolean') throw new InvalidArgumentError('options.fallthrough', 'a boolean', fallthrough);
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
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_CACHE_BYTES) {
    throw new InvalidArgumentError('options.cache.maxBytes', `an integer between 1 and ${MAX_CACHE_BYTES} (bytes)`, maxBytes);
  }
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes < 1 || maxFileBytes > maxBytes) {
    throw new InvalidArgumentError('options.cache.maxFileBytes', `an integer between 1 and options.cache.maxBytes (${maxBytes})`, maxFileBytes);
  }
  return new ContentCache(maxBytes, maxFileBytes);
}

/** `static/images`, `/a/b/`: unreserved characters only, and no `.` or `..` segment. */
function isUrlPath(prefix: string): boolean {
  return /^\/?[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*\/?$/.test(prefix) && !/(^|\/)\.\.?(\/|$)/.test(prefix);
}
