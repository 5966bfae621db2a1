/**
 * Where `make: 'queue'` variant outputs go after a commit: a function the queue layer binds
 * (`setVariantEnqueuer`); with none bound, they are left missing (the route, `generateVariants` or
 * `regenerate --variants` make them).
 */
import type { Model } from 'objection';
import type { Store } from '../stores/store.js';
import type { Subset } from './set-rows.js';

/** What a queue is told: which set, which variants, which store. */
export interface VariantsToMake {
  owner: Model;
  relationName: string;
  subset: Subset;
  names: string[];
  store: Store;
}

export type VariantEnqueuer = (work: VariantsToMake) => void | Promise<void>;

let enqueuer: VariantEnqueuer | undefined;

/** Binds (or, with `undefined`, unbinds) the function `make: 'queue'` outputs are handed to. @returns the previous one */
export function setVariantEnqueuer(next: VariantEnqueuer | undefined): VariantEnqueuer | undefined {
  const previous = enqueuer;
  enqueuer = next;
  return previous;
}

/** Hands `work` to the bound queue, if any; a failure is a warning (the outputs stay missing, never wrong). */
export async function enqueueVariants(work: VariantsToMake): Promise<void> {
  if (enqueuer === undefined || work.names.length === 0) return;
  try {
    await enqueuer(work);
  } catch (error) {
    process.emitWarning(
      `objection-imageattach: enqueueing variants ${work.names.join(', ')} failed: ${(error as Error).message}`,
    );
  }
}
