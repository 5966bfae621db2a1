/**
 * The `ImageOwner` mixin: deleting owners deletes their images (rows now, files after commit).
 *
 * A database-level `ON DELETE CASCADE` removes image rows behind the library's back, leaving their
 * files orphaned; this hook deletes the image rows first, through queries whose hooks schedule
 * the files' removal in the same transaction.
 */
import type { Knex } from 'knex';
import type { Model, StaticHookArguments } from 'objection';
import { attachmentRelationNames } from './attachment-info.js';
import { lockedRows } from './locks.js';
import type { Store } from '../stores/store.js';
import { concreteStore } from './image.js';
import { dropOwnersVariants } from './variant-lifecycle.js';

/** A model class `ImageOwner()` can extend. */
export type OwnerConstructor = (new (...args: any[]) => Model) &
  Pick<typeof Model, 'beforeDelete' | 'afterDelete' | 'relationMappings' | 'getRelations' | 'relatedQuery'>;

/** Variant files of owners deleted without a transaction: removed once the delete has succeeded. */
const variantFilesOutsideTransaction = new WeakMap<object, () => Promise<void>>();

/**
 * Makes deleting owners of `Base` (by any query) delete the images of their `imageAttachment()`
 * relations too. Pass the store with `.context({ store })`, or bind one in the context.
 * @example class User extends ImageOwner(Model) { … }
 */
export function ImageOwner<M extends OwnerConstructor>(Base: M): M {
  class ImageOwnerModel extends Base {
    static override async beforeDelete(args: StaticHookArguments<any>): Promise<any> {
      await super.beforeDelete(args);
      const cls = this as unknown as typeof Model;
      const names = attachmentRelationNames(cls);
      if (names.length === 0) return;
      // The owners' rows first, as attach and remove lock them: the same order, so no deadlock.
      const firstTable = (cls.getRelations()[names[0]!]!.relatedModelClass as typeof Model).tableName;
      const owners = (await lockedRows(
        args.asFindQuery() as never,
        'update',
        args.transaction as Knex.Transaction,
        firstTable,
      )) as Model[];
      if (owners.length === 0) return;
      const ids = owners.map((owner) => owner.$id());
      for (const name of names) {
        // Wait for thumbnails being made of these images, so the delete below sees them too.
        const table = (cls.getRelations()[name]!.relatedModelClass as typeof Model).tableName;
        await lockedRows(
          cls.relatedQuery(name, args.transaction).for(ids),
          'update',
          args.transaction as Knex.Transaction,
          table,
        );
        await cls.relatedQuery(name, args.transaction).for(ids).delete().context(args.context);
      }
      // Variant and meta rows: the foreign keys would cascade the rows, but not their files.
      const store = concreteStore(args.context.store as Store | undefined);
      const afterwards = await dropOwnersVariants(args.transaction as Knex.Transaction, owners, names, store);
      variantFilesOutsideTransaction.set(args.context, afterwards);
    }

    static override async afterDelete(args: StaticHookArguments<any>): Promise<any> {
      const result = await super.afterDelete(args);
      const afterwards = variantFilesOutsideTransaction.get(args.context);
      variantFilesOutsideTransaction.delete(args.context);
      if (afterwards) await afterwards();
      return result;
    }
  }
  // Only a static hook is added: the class is typed as `Base`, so declarations stay small.
  return ImageOwnerModel as unknown as M;
}
