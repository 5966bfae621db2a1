/**
 * A store that passes every call to a real one, with hooks on writes: to slow a write down, stop
 * it at a gate, or fail it. Tests use it to put a worker in a known place mid-job.
 */
import type { Readable } from 'node:stream';
import {
  type ByteRange,
  type FileStat,
  type ImageKey,
  type NormalizedKey,
  type PutFileOptions,
  Store,
} from '../../src/index.js';

export type PutHook = (key: ImageKey, stream: Readable) => Promise<Readable | void>;

export class HookedStore extends Store {
  /** Keys written (or tried), in order. */
  readonly puts: ImageKey[] = [];

  constructor(
    readonly inner: Store,
    public onPut: PutHook | undefined = undefined,
  ) {
    super();
  }

  async putFile(key: ImageKey, stream: Readable, options: PutFileOptions): Promise<void> {
    this.puts.push(key);
    const replaced = this.onPut ? await this.onPut(key, stream) : undefined;
    return this.inner.putFile(key, replaced ?? stream, options);
  }

  getFile(key: ImageKey, range?: ByteRange): Promise<Readable> {
    return this.inner.getFile(key, range);
  }

  getUrl(key: ImageKey): string {
    return this.inner.getUrl(key);
  }

  deleteFile(key: ImageKey): Promise<void> {
    return this.inner.deleteFile(key);
  }

  statFile(key: ImageKey): Promise<FileStat | null> {
    return this.inner.statFile(key);
  }

  listFiles(): AsyncIterable<NormalizedKey> {
    return this.inner.listFiles();
  }

  override localPath(key: ImageKey): string | undefined {
    return this.inner.localPath(key);
  }
}

/** A gate a hook can stop at: `reached` resolves when something waits there, `open()` lets it on. */
export function gate(): { reached: Promise<void>; wait(): Promise<void>; open(): void } {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const opened = new Promise<void>((resolve) => (release = resolve));
  return {
    reached,
    wait() {
      arrive();
      return opened;
    },
    open: () => release(),
  };
}

/** Polls `condition` every 20 ms until it holds. @throws after `timeout` ms */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeout = 15_000,
  what = 'the condition',
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
