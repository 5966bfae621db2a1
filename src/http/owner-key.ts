/**
 * An owner id from a URL that cannot name a row (`/users/abc`): a 404 on every database, never a
 * 500. Databases disagree on such an id: PostgreSQL refuses `'abc'` for an integer column (an
 * invalid input, SQLSTATE class 22), MySQL and SQLite find no row, and a NaN (`Number('abc')`)
 * is no SQL value at all on MySQL. So a non-finite number is refused before any query, and the
 * database's data error while reading the owner's rows is read as "no such owner".
 */
import type { Model, Relation } from 'objection';
import { DataError } from 'objection';
import type { ImageSet } from '../entity/index.js';
import { ImageNotFoundError } from '../errors.js';

/** The owner's values the relation joins on (its id, most often). */
function ownerKey(set: ImageSet): unknown[] {
  const owner = set.owner as unknown as Record<string, unknown>;
  const relation = (set.owner.constructor as typeof Model).getRelation(set.relationName) as Relation & {
    ownerProp: { props: string[] };
  };
  return relation.ownerProp.props.map((prop) => owner[prop]);
}

/** The 404 of an owner id that names no row. */
function noSuchOwner(set: ImageSet, cause?: unknown): ImageNotFoundError {
  const key = ownerKey(set).map(String);
  return new ImageNotFoundError(
    `No owner has the id ${JSON.stringify(key.length === 1 ? key[0] : key)}, so it has no image`,
    {
      cause,
      data: { ownerId: key.length === 1 ? key[0] : key },
    },
  );
}

/** Whether `error` is the database refusing a value of the wrong form (SQLSTATE class 22: PostgreSQL's invalid integer…). */
export function isMalformedValueError(error: unknown): boolean {
  if (error instanceof DataError) return true;
  const code =
    (error as { nativeError?: { code?: unknown }; code?: unknown } | null)?.nativeError?.code ??
    (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/**
 * Loads `set`'s rows, answering 404 (`ImageNotFoundError`) for an owner whose key cannot name a
 * row: a key that is not a finite number where a number was made of it, or one the database refuses.
 */
export async function loadOwnerRows(set: ImageSet, load: () => Promise<unknown>): Promise<void> {
  if (
    ownerKey(set).some(
      (value) =>
        value === undefined || value === null || value === '' || (typeof value === 'number' && !Number.isFinite(value)),
    )
  ) {
    throw noSuchOwner(set);
  }
  try {
    await load();
  } catch (error) {
    throw isMalformedValueError(error) ? noSuchOwner(set, error) : error;
  }
}
