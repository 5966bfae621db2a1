/**
 * The `Image` mixin: what makes an Objection model an image entity.
 *
 * @example
 * class UserPicture extends Image(Model) {
 *   static tableName = 'user_picture';
 *   static idColumn = ['user_id', 'width', 'height'];
 *   declare user_id: number;
 * }
 */
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Knex } from 'knex';
import type { Model, Pojo, QueryBuilder, QueryContext, StaticHookArguments } from 'objection';
import { currentStore, getCurrentStore } from '../context.js';
import { ImageAttachError } from '../errors.js';
import { type HtmlAttributes, htmlElement } from '../html-element.js';
import type { ImageLimits } from '../imaging/probe.js';
import { toDate, toObjectId } from '../stores/keys.js';
import type { ByteRange, Store } from '../stores/store.js';
import * as check from '../util/check.js';
import { createdAtColumnValue, createdAtForInsert, exactTimestampQueryBuilder } from './created-at.js';
import { FileLedger } from './ledger.js';
import { takeVariantData } from './variant-eager.js';

/** Where a method takes its store from: the one given, else the one bound in the context. */
export interface StoreOption {
  store?: Store;
}

export type { HtmlAttributes };

export interface ToHtmlOptions extends StoreOption {
  /** The text alternative (`''` for a decorative image). Without it the tag has no `alt`. */
  alt?: string;
  attributes?: HtmlAttributes;
}

/** A model class `Image()` can extend. */
export type ModelConstructor = (new (...args: any[]) => Model) &
  Pick<typeof Model, 'beforeDelete' | 'afterDelete' | 'tableName' | 'idColumn'>;

/** The instance side of an image entity, as the rest of the library relies on it. */
export interface ImageEntity extends Model {
  width: number;
  height: number;
  mimetype: string;
  original: boolean;
  created_at: Date;
  readonly objectType: string;
  readonly objectId: bigint;
  locate(options?: StoreOption): string;
  openFile(options?: StoreOption & { range?: ByteRange }): Promise<Readable>;
  makeBlob(options?: StoreOption): Promise<Buffer>;
  toHTML(options?: ToHtmlOptions): string;
}

/** What `Image()` adds to the class itself. */
export interface ImageEntityStatics {
  /** Limits for images attached to this class (merged over the library's defaults). */
  imageLimits?: Partial<ImageLimits>;
}

/**
 * The class `Image(Base)` returns: `Base`'s static side, and instances that are `Base`'s and
 * {@link ImageEntity}'s. Spelt out so that published declarations stay small (an inferred mixin
 * class type expands Objection's whole `Model` into every subclass).
 */
export type ImageModelClass<M extends ModelConstructor> = M &
  ImageEntityStatics &
  (new (...args: any[]) => ImageEntity);

/** The static side of an image entity. */
export interface ImageEntityClass {
  new (...args: any[]): ImageEntity;
  tableName: string;
  idColumn: string | string[];
  imageLimits?: Partial<ImageLimits>;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** The store to use now: the given one, or the one bound here, resolved (never the proxy). */
export function concreteStore(store: Store | undefined): Store {
  return store === undefined || store === currentStore ? getCurrentStore() : store;
}

/**
 * Makes `Base` (an Objection `Model` subclass) an image entity: the columns `width`, `height`,
 * `mimetype`, `original`, `created_at`; `objectType`/`objectId` for the store; `locate`,
 * `openFile`, `makeBlob`, `toHTML`. Deleting image rows (by any query) removes their files:
 * after the commit inside a transaction, right after the delete outside one.
 */
export function Image<M extends ModelConstructor>(Base: M): ImageModelClass<M> {
  class ImageModel extends Base implements ImageEntity {
    declare width: number;
    declare height: number;
    declare mimetype: string;
    declare original: boolean;
    declare created_at: Date;

    /** Limits for images attached to this class (merged over the library's defaults). */
    static imageLimits?: Partial<ImageLimits>;

    /**
     * The image class's name in the store. Default: the table name with `_` → `-`
     * (`user_picture` → `user-picture`), as SQLAlchemy-ImageAttach did. Override it to keep files findable
     * after renaming the table.
     */
    get objectType(): string {
      const tableName = (this.constructor as unknown as typeof Model).tableName;
      return tableName.split('.').pop()!.replace(/_/g, '-');
    }

    /**
     * The owner's id in the store. Default: the one key column left after `width` and `height`,
     * an integer, or a UUID read as its 128-bit integer. Override it for other keys.
     * @throws ImageAttachError `ERR_NO_OBJECT_ID` when no default applies
     */
    get objectId(): bigint {
      const cls = this.constructor as unknown as typeof Model;
      const columns = ([] as string[]).concat(cls.idColumn).filter((c) => c !== 'width' && c !== 'height');
      const noDefault = (why: string) =>
        new ImageAttachError(
          'ERR_NO_OBJECT_ID',
          `${cls.name} has no default objectId: ${why}; override \`get objectId()\` to return a bigint`,
        );
      if (columns.length !== 1)
        throw noDefault(`its key has ${columns.length} columns besides width and height (${columns.join(', ')})`);
      const value = (this as Record<string, unknown>)[columns[0]!];
      if (typeof value === 'string' && UUID.test(value)) return BigInt(`0x${value.replace(/-/g, '')}`);
      if (Buffer.isBuffer(value) && value.length === 16) return BigInt(`0x${value.toString('hex')}`);
      try {
        return toObjectId(value, columns[0]);
      } catch {
        // Not an integer: say so in terms of the model rather than of the store.
        throw noDefault(
          `its key column ${columns[0]} holds ${JSON.stringify(String(value))}, not an integer or a UUID`,
        );
      }
    }

    /** The URL of this image, with the `?_ts=` cache buster. No I/O. */
    locate(options: StoreOption = {}): string {
      return concreteStore(options.store).locate(this);
    }

    /** The file's bytes as a stream (or a byte range of them). @throws ImageNotFoundError */
    openFile(options: StoreOption & { range?: ByteRange } = {}): Promise<Readable> {
      return concreteStore(options.store).open(this, options.range);
    }

    /** The file's bytes. @throws ImageNotFoundError */
    async makeBlob(options: StoreOption = {}): Promise<Buffer> {
      return buffer(await this.openFile(options));
    }

    /**
     * `<img src="…" width="…" height="…" alt="…">` plus `options.attributes`, every value escaped.
     * @throws InvalidArgumentError when `alt` is given and is not a string; for an attribute name
     *   that is no plain name, or one the tag sets itself (`src`, `width`, `height`, `alt`)
     * @example image.toHTML({ alt: user.name })
     */
    toHTML(options: ToHtmlOptions = {}): string {
      if (options.alt !== undefined)
        check.string(options.alt, 'options.alt', "a string (use '' for a decorative image)");
      return htmlElement(
        'img',
        { src: this.locate(options), width: this.width, height: this.height, alt: options.alt },
        options.attributes,
      );
    }

    /**
     * Image queries read `created_at` exactly (microseconds, the session's zone) where the driver
     * would cut it to a `Date`: see `created-at.ts`. (A subclass that sets its own `QueryBuilder`
     * should extend this one.)
     */
    static QueryBuilder = exactTimestampQueryBuilder((Base as unknown as typeof Model).QueryBuilder);

    override $beforeInsert(context: QueryContext): Promise<any> | void {
      const stamped =
        this.created_at === undefined
          ? createdAtForInsert(context.transaction, (this.constructor as typeof Model).tableName).then(
              (date) => (this.created_at = date),
            )
          : undefined;
      return stamped === undefined ? super.$beforeInsert(context) : stamped.then(() => super.$beforeInsert(context));
    }

    override $toDatabaseJson(...args: unknown[]): Pojo {
      const json = (super.$toDatabaseJson as (...a: unknown[]) => Pojo).apply(this, args);
      const builder = args[0] as QueryBuilder<Model> | undefined;
      // From this.created_at, not json's: Objection's copy of a Date loses the digits it carries.
      if (json.created_at !== undefined)
        json.created_at = createdAtColumnValue(this.created_at ?? json.created_at, builder?.knex());
      return json;
    }

    override $parseDatabaseJson(json: Record<string, any>): Record<string, any> {
      // The variant and meta rows an eager load brings along are kept beside the model, not on it.
      takeVariantData(this, json);
      const parsed = super.$parseDatabaseJson(json);
      // Drivers differ: SQLite gives epoch ms or SQLAlchemy's text, MySQL 0/1 for booleans.
      if (parsed.created_at != null) parsed.created_at = toDate(parsed.created_at);
      if (parsed.original != null) parsed.original = Boolean(parsed.original);
      return parsed;
    }

    static override async beforeDelete(args: StaticHookArguments<any>): Promise<any> {
      await super.beforeDelete(args);
      const images = (await args.asFindQuery()) as ImageModel[];
      if (images.length === 0) return;
      const store = concreteStore(args.context.store as Store | undefined);
      const trx = args.transaction as { isTransaction?: boolean };
      if (trx.isTransaction) {
        const ledger = FileLedger.of(args.transaction as Knex.Transaction);
        for (const image of images)
          ledger.scheduleDelete(store, image, () => stillReferenced(this as unknown as typeof Model, image));
      } else {
        // No transaction: the files go once the delete has succeeded (afterDelete).
        deletedOutsideTransaction.set(args.context, { store, images });
      }
    }

    static override async afterDelete(args: StaticHookArguments<any>): Promise<any> {
      const result = await super.afterDelete(args);
      const pending = deletedOutsideTransaction.get(args.context);
      if (pending) {
        deletedOutsideTransaction.delete(args.context);
        for (const image of pending.images) await pending.store.delete(image);
      }
      return result;
    }
  }
  return ImageModel as unknown as ImageModelClass<M>;
}

const deletedOutsideTransaction = new WeakMap<object, { store: Store; images: ImageEntity[] }>();

/** True when a committed row of `cls` holds the same file as `image` (same key and type). */
async function stillReferenced(cls: typeof Model, image: ImageEntity): Promise<boolean> {
  let knex;
  try {
    knex = cls.knex();
  } catch {
    // The class is used only through explicit transactions: no connection to ask; delete.
    return false;
  }
  if (!knex) return false;
  const row = (await cls.query(knex).findById(image.$id())) as ImageEntity | undefined;
  return row !== undefined && row.mimetype === image.mimetype;
}

/**
 * An `<img>` element from attributes (escaped; `undefined` and `false` left out).
 * @throws InvalidArgumentError for an attribute name that is no plain name
 */
export function imgElement(attributes: HtmlAttributes): string {
  return htmlElement('img', {}, attributes, 'attributes');
}
