/**
 * objection-imageattach/migration: moving image files between stores (`migrate`, `migrateClass`
 * and the plan they return). The pieces live in `migration/`.
 */
export { MigrationPlan, migrate, migrateClass } from './migration/plan.js';
export { MigrationError } from './migration/types.js';
export type {
  FailedImage,
  MigrationEvent,
  MigrationOptions,
  MigrationProgress,
  MigrationReport,
  ProgressCallback,
} from './migration/types.js';
export type { ModelList } from './migration/models.js';
export type { VariantFile } from './migration/variant-rows.js';
