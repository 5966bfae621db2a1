/**
 * Single flight: concurrent calls for the same work in this process share one promise.
 */

const inFlight = new Map<string, Promise<unknown>>();

/**
 * Runs `work` unless a call with the same `key` is already running, in which case that call's
 * promise is returned: many requests for one missing thumbnail make it once.
 */
export function singleFlight<T>(key: string, work: () => Promise<T>): Promise<T> {
  let pending = inFlight.get(key) as Promise<T> | undefined;
  if (pending === undefined) {
    pending = work();
    inFlight.set(key, pending);
    const forget = () => inFlight.delete(key);
    void pending.then(forget, forget);
  }
  return pending;
}
