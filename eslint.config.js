// ESLint: typescript-eslint's recommended rules. Not the type-aware set: it makes the lint a
// second whole-program type check, and its no-unsafe-* rules flag every untyped knex and
// Objection value the code passes on. Formatting is Prettier's job (`npm run format`).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-output/', 'example/data/', 'bench/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // Mixins (`new (...args: any[])`, as TypeScript requires) and Objection's own hook signatures need `any`.
      '@typescript-eslint/no-explicit-any': 'off',
      // The checks that refuse control characters in keys, prefixes and URLs name them on purpose.
      'no-control-regex': 'off',
      // `_name` marks a parameter or binding a signature needs and the body does not use.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // Express's request and locals types are extended the way @types/express documents: by declaration merging.
      '@typescript-eslint/no-namespace': ['error', { allowDeclarations: true }],
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  { files: ['example/public/**/*.js'], languageOptions: { globals: globals.browser } },
);
