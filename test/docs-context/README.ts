// The README's blocks are whole files (knexfile.ts, models.ts, the migration, app.ts): no context.
export {};
