/**
 * The CLI's config: a module exporting `{ knex, models, stores }` (named exports, a default
 * export, or a default function returning them), found at `--config FILE` or as
 * `imageattach.config.{js,mjs,cjs,ts,mts}` in the working folder.
 *
 * - `knex`: the connection (optional when the model classes already have one bound); it is bound
 *   to every listed class, and destroyed when the command ends.
 * - `models`: owner classes (their `imageAttachment()` relations name the image classes) and/or
 *   image classes, by name: `{ users: User, products: Product }`. `regenerate` needs the owner.
 * - `stores`: stores by name: `{ local: new FileSystemStore(…), s3: new S3Store(…) }`.
 * - `defaultStore` (optional): the name `verify` and `regenerate` use without `--store`.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import type { Model } from 'objection';
import type { ImageEntityClass } from '../entity/index.js';
import { describeValue, InvalidArgumentError } from '../errors.js';
import * as check from '../util/check.js';
import {
  attachmentRelations,
  type AttachmentRelation,
  imageClassesOf,
  isImageClass,
  listedModels,
} from '../migration/models.js';
import { Store } from '../stores/store.js';
import { UsageError } from './exit.js';

export interface CliConfig {
  knex?: Knex;
  models: Record<string, unknown> | unknown[];
  stores: Record<string, Store>;
  defaultStore?: string;
}

/** An `imageAttachment()` relation of a listed owner, with the name the owner is listed under. */
export type ConfigRelation = AttachmentRelation & { ownerName: string };

export interface LoadedConfig {
  file: string;
  knex: Knex | undefined;
  models: CliConfig['models'];
  stores: Record<string, Store>;
  defaultStore: string | undefined;
  /** Every image class the models cover. */
  imageClasses: ImageEntityClass[];
  /** Every `imageAttachment()` relation of the listed owners. */
  relations: ConfigRelation[];
  /** Releases the connection. */
  close(): Promise<void>;
}

const DEFAULT_NAMES = [
  'imageattach.config.js',
  'imageattach.config.mjs',
  'imageattach.config.cjs',
  'imageattach.config.ts',
  'imageattach.config.mts',
];

/**
 * Finds, imports and checks the config.
 * @throws UsageError when there is none or it cannot be imported; InvalidArgumentError naming the
 *   bad field (`config.stores.local`…)
 */
export async function loadConfig(file: string | undefined, cwd = process.cwd()): Promise<LoadedConfig> {
  const found = file === undefined ? await findDefault(cwd) : path.resolve(cwd, file);
  if (!(await exists(found))) {
    throw new UsageError(
      file === undefined
        ? `No config file: pass --config FILE, or create ${DEFAULT_NAMES[0]} (exporting { knex, models, stores }) in ${cwd}`
        : `The config file ${found} (from --config) does not exist`,
      { file: found },
    );
  }
  const config = await importConfig(found);
  return checkConfig(config, found);
}

async function findDefault(cwd: string): Promise<string> {
  for (const name of DEFAULT_NAMES) {
    const candidate = path.join(cwd, name);
    if (await exists(candidate)) return candidate;
  }
  return path.join(cwd, DEFAULT_NAMES[0]!);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    // Not there (or not readable): the caller says which file was looked for.
    return false;
  }
}

async function importConfig(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_UNKNOWN_FILE_EXTENSION') throw configError(file, error);
    // A TypeScript config outside tsx: load it through tsx's API when tsx is installed.
    mod = await importWithTsx(file, url);
  }
  let config: unknown = 'default' in mod && mod.default !== undefined ? mod.default : mod;
  if (typeof config === 'function') config = await (config as () => unknown)();
  return config;
}

async function importWithTsx(file: string, url: string): Promise<Record<string, unknown>> {
  let register: () => unknown;
  try {
    ({ register } = (await import('tsx/esm/api')) as { register: typeof register });
  } catch {
    throw new UsageError(
      `The config ${file} is TypeScript: install tsx (npm install --save-dev tsx) or compile the config to JavaScript`,
      { file },
    );
  }
  // A global registration (not tsx's namespaced tsImport), so that the config's imports of this
  // package resolve to the very modules the CLI runs: one Store class, one set of models.
  register();
  try {
    // A new URL: the failed import above is cached under the plain one.
    return await import(`${url}?tsx`);
  } catch (error) {
    throw configError(file, error);
  }
}

function configError(file: string, error: unknown): UsageError {
  const usage = new UsageError(
    `The config ${file} could not be loaded: ${(error as Error)?.message ?? String(error)}`,
    { file },
  );
  (usage as { cause?: unknown }).cause = error;
  return usage;
}

function checkConfig(raw: unknown, file: string): LoadedConfig {
  check.object(raw, 'config', 'a module exporting { knex, models, stores }');
  const config = raw as Partial<CliConfig>;
  const { knex, stores, models, defaultStore } = config;
  if (knex !== undefined && (typeof knex !== 'function' || typeof (knex as Knex).destroy !== 'function')) {
    throw new InvalidArgumentError('config.knex', 'a knex instance', knex);
  }
  if (stores === null || typeof stores !== 'object' || Array.isArray(stores) || Object.keys(stores).length === 0) {
    throw new InvalidArgumentError(
      'config.stores',
      'an object of store names to Store instances, e.g. { local: new FileSystemStore(…) }',
      stores,
    );
  }
  for (const [name, store] of Object.entries(stores)) {
    check.instanceOf(store, Store, `config.stores.${name}`);
  }
  if (defaultStore !== undefined && !Object.hasOwn(stores, defaultStore)) {
    throw new InvalidArgumentError(
      'config.defaultStore',
      `the name of a store in config.stores (${Object.keys(stores).join(', ')})`,
      defaultStore,
    );
  }
  if (models === undefined)
    throw new InvalidArgumentError('config.models', 'owner and/or image model classes, by name', models);
  const imageClasses = imageClassesOf(models as CliConfig['models'], 'config.models');
  const relations = listedModels(models as CliConfig['models'], 'config.models').flatMap(([ownerName, cls]) =>
    isImageClass(cls) ? [] : attachmentRelations(cls).map((relation) => ({ ...relation, ownerName })),
  );
  if (knex !== undefined) {
    // Objection finds a class's connection on the class: bind it to every class the commands use.
    for (const cls of [...imageClasses, ...relations.map((r) => r.ownerClass)])
      (cls as unknown as typeof Model).knex(knex);
  }
  return {
    file,
    knex,
    models: models as CliConfig['models'],
    stores: stores as Record<string, Store>,
    defaultStore,
    imageClasses,
    relations,
    close: async () => {
      await knex?.destroy();
    },
  };
}

/**
 * The store named by `option` (`--from`, `--store`…), or the default one when no name is given.
 * @throws InvalidArgumentError naming the option and listing the store names
 */
export function storeNamed(
  config: LoadedConfig,
  option: string,
  name: string | undefined,
): { name: string; store: Store } {
  const names = Object.keys(config.stores);
  if (name === undefined) {
    const fallback = config.defaultStore ?? (names.length === 1 ? names[0] : undefined);
    if (fallback === undefined) {
      throw new UsageError(
        `${option} is needed: the config has several stores (${names.join(', ')}) and no defaultStore`,
      );
    }
    return { name: fallback, store: config.stores[fallback]! };
  }
  if (!Object.hasOwn(config.stores, name)) {
    throw new InvalidArgumentError(option, `the name of a store in the config (${names.join(', ')})`, name);
  }
  return { name, store: config.stores[name]! };
}

/** Names an image class answers to on the command line. */
function namesOf(cls: ImageEntityClass, config: LoadedConfig): string[] {
  const names = [cls.name, cls.tableName, cls.tableName.split('.').pop()!.replace(/_/g, '-')];
  for (const [name, listed] of listedModels(config.models)) if (listed === cls) names.push(name);
  return names;
}

/**
 * The owner relation `--model NAME` means: `owner.relation` (as listed in the config, e.g.
 * `users.picture`), or an image class by its config name, class name, table name or object type
 * (then the first listed owner relation to that class).
 * @throws InvalidArgumentError listing the names that would do; UsageError when no owner of the
 *   image class is listed
 */
export function relationNamed(config: LoadedConfig, option: string, name: string): ConfigRelation {
  const direct = config.relations.find(
    (r) => `${r.ownerName}.${r.relationName}` === name || `${r.ownerClass.name}.${r.relationName}` === name,
  );
  if (direct) return direct;
  const matches = config.imageClasses.filter((cls) => namesOf(cls, config).includes(name));
  if (matches.length !== 1) {
    const known = [
      ...config.relations.map((r) => `${r.ownerName}.${r.relationName}`),
      ...config.imageClasses.map((c) => c.name),
    ];
    const expected =
      matches.length > 1
        ? `one image class, not ${matches.length} (use owner.relation)`
        : 'an image class or owner.relation from the config';
    throw new InvalidArgumentError(option, `${expected} (${[...new Set(known)].join(', ')})`, name);
  }
  const relation = config.relations.find((r) => r.imageClass === matches[0]);
  if (relation === undefined) {
    throw new UsageError(
      `${option} ${describeValue(name)} names ${matches[0]!.name}, but no owner class in config.models has an imageAttachment() relation to it: ` +
        'list the owner class in config.models so its image sets can be found',
    );
  }
  return relation;
}
