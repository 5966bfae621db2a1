/**
 * The store context: which store "the current store" is, for this request or this block of work.
 *
 * Built on AsyncLocalStorage, so a binding follows everything the work starts (awaits, timers,
 * event handlers) and two concurrent requests never see each other's store. SQLAlchemy-ImageAttach kept a
 * thread-local stack; `pushStoreContext`/`popStoreContext` keep that shape for scripts, but
 * `withStore` and the `storeContext` middleware are the safe ways to bind a store.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import { ContextError } from './errors.js';
import type { ImageKey, NormalizedKey, StoredImage } from './stores/keys.js';
import { type ByteRange, type FileStat, type PutFileOptions, Store } from './stores/store.js';
import * as check from './util/check.js';

interface ContextFrame {
  /** Pushed stores, innermost last. */
  readonly stores: Store[];
  /** `scheme://host[:port]` of the request being served, if any. */
  readonly origin: string | undefined;
}

const storage = new AsyncLocalStorage<ContextFrame>();

/** Used outside any `withStore`/request: the process-wide stack that push/pop act on there. */
const rootFrame: ContextFrame = { stores: [], origin: undefined };

function frame(): ContextFrame {
  return storage.getStore() ?? rootFrame;
}

/**
 * Runs `fn` with `store` as the current store, and returns what it returns. The binding holds for
 * all async work `fn` starts, and ends with it.
 * @example await withStore(store, () => user.picture.fromFile('me.jpg'))
 */
export function withStore<T>(store: Store, fn: () => T): T {
  check.instanceOf(store, Store, 'store');
  const parent = frame();
  return storage.run({ stores: [...parent.stores, store], origin: parent.origin }, fn);
}

/**
 * The store bound where this is called.
 * @throws ContextError `ERR_NO_STORE_CONTEXT` outside any binding
 */
export function getCurrentStore(): Store {
  const { stores } = frame();
  const store = stores[stores.length - 1];
  if (store === undefined) {
    throw new ContextError(
      'ERR_NO_STORE_CONTEXT',
      'No store is bound here: call this inside withStore(store, fn), a request served after ' +
        'app.use(storeContext(store)), or pass { store } explicitly',
    );
  }
  return store;
}

/**
 * Binds `store` in the current context until `popStoreContext()`; SQLAlchemy-ImageAttach's
 * `push_store_context`. Inside a request or `withStore` it affects only that context.
 */
export function pushStoreContext(store: Store): void {
  check.instanceOf(store, Store, 'store');
  frame().stores.push(store);
}

/**
 * Unbinds the store last pushed and returns it.
 * @throws ContextError `ERR_CONTEXT_STACK_EMPTY` when nothing is pushed
 */
export function popStoreContext(): Store {
  const store = frame().stores.pop();
  if (store === undefined) {
    throw new ContextError('ERR_CONTEXT_STACK_EMPTY', 'popStoreContext() was called with no store pushed');
  }
  return store;
}

/** The origin (`scheme://host[:port]`) of the request being served here, if one is bound. */
export function currentRequestOrigin(): string | undefined {
  return frame().origin;
}

/** Runs `fn` with `origin` bound as the current request's origin (and the stores unchanged). */
export function withRequestOrigin<T>(origin: string, fn: () => T): T {
  return storage.run({ stores: [...frame().stores], origin }, fn);
}

/** An Express request (4 or 5), or any Node request (Connect, `http`). */
type AnyRequest = IncomingMessage & { protocol?: string; app?: { get?: (setting: string) => unknown } };

/**
 * The origin a client used to reach this request. With Express, `req.protocol` and the host as
 * Express 5's `req.host` reads it honour the app's `trust proxy` setting (X-Forwarded-Proto/-Host);
 * without Express, the socket and the Host header are used and forwarded headers are ignored
 * (they are not to be trusted).
 */
export function requestOrigin(req: AnyRequest): string | undefined {
  const protocol = req.protocol ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  const host = requestHost(req);
  return host ? `${protocol}://${host}` : undefined;
}

/**
 * The host with its port, read as Express 5's `req.host` does, on both Express majors: Express 4's
 * `req.host` is deprecated (and drops the port), so the app's compiled `trust proxy` function,
 * which both keep as the `trust proxy fn` setting, decides whether X-Forwarded-Host counts.
 */
function requestHost(req: AnyRequest): string | undefined {
  const trust = typeof req.app?.get === 'function' ? req.app.get('trust proxy fn') : undefined;
  const forwarded = req.headers['x-forwarded-host'];
  if (
    typeof trust === 'function' &&
    typeof forwarded === 'string' &&
    forwarded !== '' &&
    trust(req.socket.remoteAddress, 0)
  ) {
    return forwarded.split(',')[0]!.trim() || undefined;
  }
  return req.headers.host || undefined;
}

/**
 * Express/Connect middleware binding `store` (and the request's origin) for everything the
 * request does.
 * @example app.use(storeContext(store))
 */
export function storeContext(store: Store) {
  check.instanceOf(store, Store, 'store');
  return function storeContextMiddleware(
    req: IncomingMessage,
    _res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    const parent = frame();
    storage.run({ stores: [...parent.stores, store], origin: requestOrigin(req) ?? parent.origin }, next);
  };
}

/**
 * A store that is whichever store is current at each call: SQLAlchemy-ImageAttach's `current_store`. Pass it
 * where a store is expected and the binding decides at run time.
 */
class CurrentStore extends Store {
  putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    return getCurrentStore().putFile(key, stream, options);
  }

  getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    return getCurrentStore().getFile(key, range);
  }

  getUrl(key: ImageKey): string {
    return getCurrentStore().getUrl(key);
  }

  deleteFile(key: ImageKey): Promise<void> {
    return getCurrentStore().deleteFile(key);
  }

  statFile(key: ImageKey): Promise<FileStat | null> {
    return getCurrentStore().statFile(key);
  }

  listFiles(): AsyncIterable<NormalizedKey> {
    return getCurrentStore().listFiles();
  }

  override localPath(key: ImageKey): string | undefined {
    return getCurrentStore().localPath(key);
  }

  override putLocalFile(key: ImageKey, file: string, options: PutFileOptions): Promise<number> {
    return getCurrentStore().putLocalFile(key, file, options);
  }

  override stagingPath(key: ImageKey): Promise<string | undefined> {
    return getCurrentStore().stagingPath(key);
  }

  // The caller methods delegate too, so a store that refines them (say, its URLs) is honoured.
  override store(image: StoredImage, data: Readable | Uint8Array): Promise<void> {
    return getCurrentStore().store(image, data);
  }

  override open(image: StoredImage, range?: ByteRange): Promise<Readable> {
    return getCurrentStore().open(image, range);
  }

  override locate(image: StoredImage): string {
    return getCurrentStore().locate(image);
  }

  override delete(image: StoredImage): Promise<void> {
    return getCurrentStore().delete(image);
  }
}

/** The store current at each call (see {@link getCurrentStore}). */
export const currentStore: Store = new CurrentStore();
