/**
 * Runs an async function over the items of an async iterable, `limit` at a time (stats and
 * thumbnails are I/O or thread-pool bound: a few at once go faster than one, too many only queue).
 */
export async function forEachConcurrently<T>(
  items: AsyncIterable<T>,
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  let failed = false;
  const worker = async () => {
    // Calls to an async generator's next() queue up, so workers can share one iterator.
    while (!failed) {
      const next = await iterator.next();
      if (next.done) return;
      try {
        await work(next.value);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: limit }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) {
    await iterator.return?.(undefined);
    throw rejected.reason;
  }
}
