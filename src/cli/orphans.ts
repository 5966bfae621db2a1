/**
 * `verify --orphans --delete` on a live app: which orphan files may go. A file no row pointed to
 * when the rows were read may be an upload in flight (its file written, its transaction not yet
 * committed), so only files older than a minimum age are deleted, and the rows are read again
 * just before deleting: a file a row now points to is kept.
 */
import { parseDuration } from './duration.js';
import { type ImageKey, type NormalizedKey, toObjectId } from '../stores/keys.js';
import type { Store } from '../stores/store.js';
import { checked } from '../stores/checked-calls.js';

export const DEFAULT_MIN_AGE = '10m';

/** `--min-age` as milliseconds: `90s`, `10m`, `2h`, `1d`, or `0`. @throws InvalidArgumentError */
export function parseMinAge(value: string): number {
  return parseDuration(value, '--min-age');
}

export interface OrphanVerdicts {
  deleted: NormalizedKey[];
  /** Younger than the minimum age, or of unknown age: possibly an upload in flight. */
  tooRecent: NormalizedKey[];
  /** A row pointed to it when the rows were read again. */
  nowReferenced: NormalizedKey[];
}

/**
 * Deletes the `orphans` that are older than `minAgeMs` and that no row points to when
 * `rereadRows` (the row pass, run again after the ages are known) says which keys rows hold.
 * With `dryRun`, deletes nothing: `deleted` lists the files a real run would delete.
 */
export async function deleteOrphans(
  store: Store,
  orphans: NormalizedKey[],
  minAgeMs: number,
  keyString: (key: NormalizedKey) => string,
  rereadRows: () => Promise<Set<string>>,
  { now = Date.now(), dryRun = false }: { now?: number; dryRun?: boolean } = {},
): Promise<OrphanVerdicts> {
  const verdicts: OrphanVerdicts = { deleted: [], tooRecent: [], nowReferenced: [] };
  const oldEnough: NormalizedKey[] = [];
  for (const key of orphans) {
    const stat = await checked(store).statFile(key);
    if (stat === null) continue;
    // A store that keeps no modification time cannot prove a file old: keep it, unless told 0.
    const age = stat.modifiedAt === undefined ? (minAgeMs === 0 ? 0 : -1) : now - stat.modifiedAt.getTime();
    if (age >= minAgeMs) oldEnough.push(key);
    else verdicts.tooRecent.push(key);
  }
  if (oldEnough.length === 0) return verdicts;
  const referenced = await rereadRows();
  for (const key of oldEnough) {
    if (referenced.has(keyString(key))) {
      verdicts.nowReferenced.push(key);
      continue;
    }
    if (!dryRun) await checked(store).deleteFile(key);
    verdicts.deleted.push(key);
  }
  return verdicts;
}

/** A key as one string, to look it up among the keys rows hold. */
export function keyString(key: ImageKey): string {
  return `${key.objectType}/${toObjectId(key.objectId)}/${key.width}x${key.height}/${key.mimetype}`;
}
