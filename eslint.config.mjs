import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import { declaredDependencies } from './eslint/declared-dependencies.mjs';
import { packageBoundaries } from './eslint/package-boundaries.mjs';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      'node_modules/**',
      'coverage/**',
      'bench/results/**',
      'data/**',
      '**/*.d.ts',
      // The console's built front end (npm run build:console-ui).
      'libs/console/ui/dist/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        __dirname: 'readonly',
        console: 'readonly',
        process: 'readonly',
        require: 'readonly',
        module: 'writable',
      },
    },
    plugins: {
      'reliable-mq': { rules: { ...packageBoundaries.rules, ...declaredDependencies.rules } },
    },
    rules: {
      'reliable-mq/package-boundaries': 'error',
      'reliable-mq/declared-dependencies': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Optional peer dependencies are required when the feature that needs them starts (loadOptionalDependency),
      // so that an application which never uses them need not install them.
      '@typescript-eslint/no-require-imports': [
        'error',
        {
          allow: [
            '^better-sqlite3$',
            '^ioredis$',
            '^amqplib$',
            '^class-validator$',
            '^class-transformer$',
            '^@opentelemetry/api$',
          ],
        },
      ],
    },
  },
  {
    // Executables shipped by the packages are plain CommonJS.
    files: ['**/bin/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
