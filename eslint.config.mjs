// ESLint: typescript-eslint's recommended rules (correctness, not style: Prettier owns the layout),
// plus the few that keep this code base's own conventions checkable.
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'tests/package/project/bin/'] },
  eslint.configs.recommended,
  tseslint.configs.recommended,
  prettier,
  {
    rules: {
      eqeqeq: ['error', 'always'],
      'no-throw-literal': 'error',
      'prefer-const': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // `_name` marks a binding kept on purpose (a destructured field left out, an unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
    },
  },
  {
    // A synchronous require where it is the point: node-forge (~10 MB) loaded only by the commands that
    // need it; serialized providers, which must require the installed package by name when they run;
    // tests that load serialized or compiled code the way the plugin does.
    files: [
      'provider/bundle/identity.ts',
      'provider/bundle/keys.ts',
      'provider/dynamic/providerObject.ts',
      'tests/pulumi/pluginHarness.test.ts',
      'tests/pulumi/program.test.ts',
      'tests/pulumi/serialization.test.ts',
    ],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Each resource class shows its outputs through an interface of the same name derived from its
    // declaration (provider/dynamic/*/types.ts): declaration merging with no members of its own.
    files: ['sdk/bundledImage.ts', 'sdk/registeredAmi.ts', 'sdk/unikernelInstance.ts'],
    rules: {
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
    },
  },
);
