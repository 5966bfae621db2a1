/**
 * Guarding an upload's request body while multer reads it: the byte limit on the whole body, and
 * the idle and slow-client timeouts. (A part's header block needs no guard of ours: busboy refuses
 * one over 16 KiB, as a malformed part.) When one is passed the guard
 * stops reading at once and hands the error on; the response it leads to closes the connection,
 * so the rest of the body is never read (multer would drain it to the end before answering).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { type ImageAttachError, InvalidImageError, UploadError } from '../errors.js';
import { humanBytes } from '../util/human-bytes.js';

export interface UploadBodyLimits {
  /** The most bytes of the whole body (the files, plus the form's fields and part headers). */
  maxBodyBytes: number;
  /** Each file's own limit, named in the 413's message. */
  maxFileBytes: number;
  /** How many files the body may carry, named in the 413's message. */
  maxFiles: number;
  /** The bytes a body may carry beyond its files, named in the 413's message. */
  formAllowance: number;
  /** Milliseconds without a byte before the upload fails with 408. */
  idleTimeout: number;
  /** After `idleTimeout`, the least average bytes per second before the upload fails with 408. */
  minBytesPerSecond: number;
}

/** How long a refused upload's connection stays open after its answer (see lingerBeforeClosing). */
const LINGER_MS = 1000;

const guards = new WeakMap<IncomingMessage, UploadGuard>();

/** The guard of `req`, for the storage engine to report a file over its cap through. */
export function guardOf(req: IncomingMessage): UploadGuard | undefined {
  return guards.get(req);
}

/** One request's guard: create it before multer runs, feed multer through {@link feed}. */
export class UploadGuard {
  private failed = false;
  private received = 0;
  private readonly startedAt = Date.now();
  private lastDataAt = this.startedAt;
  private timer: NodeJS.Timeout | undefined;
  private busboy: Writable | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly limits: UploadBodyLimits,
    private readonly onFail: (error: ImageAttachError) => void,
  ) {
    guards.set(req, this);
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  /** Refuses a declared `Content-Length` over the limit before a byte is read; else starts the clock. */
  start(): boolean {
    const declared = Number(this.req.headers['content-length']);
    if (declared > this.limits.maxBodyBytes) {
      this.fail(this.tooLarge(declared));
      return false;
    }
    this.schedule(this.limits.idleTimeout);
    return true;
  }

  /** multer's `streamHandler`: the body goes to busboy, every chunk past the guard first. */
  readonly feed = (req: IncomingMessage, busboy: Writable): void => {
    req.on('data', this.onData);
    req.once('end', this.stop);
    req.once('close', this.stop);
    this.busboy = busboy;
    req.pipe(busboy);
  };

  /** Stops reading and hands `error` on, once; the response then closes the connection. */
  fail(error: ImageAttachError): void {
    if (this.failed) return;
    this.failed = true;
    this.stop();
    this.req.unpipe();
    this.req.pause();
    if (!this.res.headersSent) this.res.setHeader('Connection', 'close');
    this.res.once('finish', this.lingerBeforeClosing);
    // Once the connection is gone, end the form's parsing: its file stream fails, so the storage
    // engine removes a temp file being written and multer one already stored. (Node emits no
    // 'close' on a request whose response has finished, so multer would never learn of it.)
    // Not sooner: multer would then resume reading the body to drain it.
    this.req.socket.once('close', () => this.busboy?.destroy(error));
    this.onFail(error);
  }

  /**
   * Node ends the socket after a `Connection: close` response and destroys it once its FIN is
   * out; with the unread body still in the receive buffer, the kernel then answers with a reset,
   * and a client still sending loses the response it was about to read. So the close waits a
   * moment (reading nothing more), as nginx's lingering close does, then happens anyway.
   */
  private readonly lingerBeforeClosing = (): void => {
    const socket = this.req.socket;
    if (socket.destroyed) return;
    socket.removeListener('finish', socket.destroy);
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };

  /** The body has ended or the request is over: no more checks. */
  readonly stop = (): void => {
    clearTimeout(this.timer);
    this.req.off('data', this.onData);
  };

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    this.lastDataAt = Date.now();
    if (this.received > this.limits.maxBodyBytes) this.fail(this.tooLarge(undefined));
  };

  /** One timer per request, moved lazily: a chunk only records its time, the timer re-arms itself. */
  private schedule(delay: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, delay));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    if (this.failed) return;
    const { idleTimeout, minBytesPerSecond } = this.limits;
    const now = Date.now();
    const idleUntil = this.lastDataAt + idleTimeout;
    // After a first idle period's grace, the body must have come at least this fast on average.
    const slowUntil =
      minBytesPerSecond > 0 ? this.startedAt + idleTimeout + (this.received / minBytesPerSecond) * 1000 : Infinity;
    const deadline = Math.min(idleUntil, slowUntil);
    if (now < deadline) return this.schedule(deadline - now);
    const message =
      deadline === idleUntil
        ? `Expected more of the upload within ${idleTimeout} ms but none came`
        : `Expected the upload at ${minBytesPerSecond} bytes per second at least but ${this.received} bytes came in ${now - this.startedAt} ms`;
    this.fail(
      new UploadError('ERR_UPLOAD_TIMEOUT', message, {
        statusCode: 408,
        data: { received: this.received, idleTimeout, minBytesPerSecond },
      }),
    );
  };

  /**
   * The body is over its limit: said in a person's units, with what the limit is made of (the
   * file, or files, and the form's allowance) and what came.
   */
  private tooLarge(declared: number | undefined): InvalidImageError {
    const { maxBodyBytes, maxFileBytes, maxFiles, formAllowance } = this.limits;
    const files =
      maxFiles === 1
        ? `a file of up to ${humanBytes(maxFileBytes)}`
        : `${maxFiles} files of up to ${humanBytes(maxFileBytes)} each`;
    const came =
      declared === undefined
        ? `more than ${humanBytes(maxBodyBytes)} came`
        : `the request declares ${humanBytes(declared)}`;
    return new InvalidImageError(
      'ERR_IMAGE_TOO_LARGE',
      `Expected an upload of at most ${humanBytes(maxBodyBytes)} (${files}, and ${humanBytes(formAllowance)} for the rest of the form) but ${came}`,
      { statusCode: 413, data: { maxBytes: maxFileBytes, maxBodyBytes, maxFiles, formAllowance, declared } },
    );
  }
}
