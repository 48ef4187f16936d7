import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // contract/generated is written by contract/generate.ts from the schemas.
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'test/servers/go/**',
      'local-servers/go/**',
      'coverage/**',
      'contract/generated/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // libsignal and Baileys print secrets through console; product code logs through pino only.
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['test/**', 'wa-sim/**', 'scripts/**', 'cli/**'],
    rules: { 'no-console': 'off' },
  },
);
