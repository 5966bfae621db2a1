/**
 * The total deadline of one S3 operation (`operationTimeout`), retries and body included. The
 * SDK's own timeouts bound each attempt's connection and silences only, so a peer trickling a
 * byte a second, or retries of slow attempts, could hold a call (and the transaction around it)
 * for minutes; an AbortSignal ends the request at the deadline whatever it is doing.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { StoreError } from '../errors.js';
import { s3Failure, type S3Target } from './s3-sdk.js';

/** How often a body past its deadline is looked at again while its reader is the slow one. */
const READER_RECHECK_MS = 1000;

/** What an S3 call needs to reach its bucket within its deadline. */
export interface S3Access {
  client: S3Client;
  bucket: string;
  /** `operationTimeout`, in milliseconds. */
  timeout: number;
}

/** One operation's deadline: an AbortSignal for the SDK, and the error to report once it passed. */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  private readonly endsAt: number;
  /** Called at the deadline instead of aborting the request (a response whose body is still streaming). */
  private onExpiry: (() => void) | undefined;

  constructor(
    private readonly timeout: number,
    private readonly target: S3Target,
  ) {
    this.endsAt = performance.now() + timeout;
    this.timer = this.arm(timeout);
  }

  private arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => (this.onExpiry ?? (() => this.controller.abort()))(), ms);
    timer.unref();
    return timer;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get expired(): boolean {
    return this.controller.signal.aborted || performance.now() >= this.endsAt;
  }

  /** The StoreError `ERR_STORE_UNAVAILABLE` that says the deadline passed. */
  error(cause?: unknown): StoreError {
    const { bucket, key, operation } = this.target;
    const where = key === undefined ? `s3://${bucket}` : `s3://${bucket}/${key}`;
    return new StoreError(
      'ERR_STORE_UNAVAILABLE',
      `S3 ${operation} on ${where} failed: it did not finish within ${this.timeout} ms (operationTimeout)`,
      {
        cause,
        data: { bucket, key, operation, timeout: this.timeout },
      },
    );
  }

  /** The typed error for a failure of the operation: the deadline's when it passed, else the SDK's. */
  failure(error: unknown): unknown {
    return this.expired ? this.error(error) : s3Failure(error, this.target);
  }

  /**
   * Holds `body` to the same deadline: destroyed with the deadline's error if it has not ended
   * by then, unless bytes wait in it for its reader: then the reader is the slow one (a slow
   * client the body is piped to), not the peer, and the body is looked at again a second later.
   * The deadline ends once the body ends, fails or is closed by its reader.
   */
  guard(body: Readable): Readable {
    this.onExpiry = () => {
      if (body.readableLength > 0) this.timer = this.arm(READER_RECHECK_MS);
      else body.destroy(this.error());
    };
    if (this.expired) this.onExpiry();
    body.once('close', () => this.clear());
    return body;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/**
 * Sends `command` within `access.timeout` ms, retries included.
 * @throws ImageNotFoundError, StoreError `ERR_STORE_UNAVAILABLE` (see `s3Failure`)
 */
export async function sendWithin<Output>(access: S3Access, command: object, target: S3Target): Promise<Output> {
  const deadline = new Deadline(access.timeout, target);
  try {
    // Any command of the client: its own overloads cannot be named generically.
    return (await access.client.send(command as never, { abortSignal: deadline.signal })) as Output;
  } catch (error) {
    throw deadline.failure(error);
  } finally {
    deadline.clear();
  }
}

/**
 * The client as lib-storage's `Upload` sees it: every request it sends carries `signal`, so an
 * upload stopped at its deadline stops its PUTs too (`Upload.abort()` alone leaves them running).
 */
export function clientWithSignal(client: S3Client, signal: AbortSignal): S3Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return (command: Parameters<S3Client['send']>[0], options?: object) =>
        target.send(command, { ...options, abortSignal: signal });
    },
  });
}
