/**
 * The layering of src/ (README, "Architecture"), checked by `npm run lint` (dependency-cruiser).
 * Each rule names what it keeps apart; a new import that breaks one fails the test line.
 */
module.exports = {
  forbidden: [
    {
      name: 'server-shares-only-protocol',
      comment: 'usage-server shares only protocol/ and shared/ with the agent.',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/', pathNot: '^src/(server|protocol|shared)/' },
    },
    {
      name: 'agent-does-not-import-server',
      comment: 'The agent talks to the server over the protocol, never through its code.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/server/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'protocol-is-a-leaf',
      comment: 'protocol/ (wire types, event codes, integrity) depends on nothing else of ours but shared/.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/(protocol|shared)/' },
    },
    {
      name: 'shared-is-a-leaf',
      comment: 'shared/ helpers import nothing else from src/.',
      severity: 'error',
      from: { path: '^src/shared/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli/ is the top: the commands use the layers below, never the other way.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-cli-imports-daemon',
      comment: 'daemon/ hosts the components; only the commands start it (service status asks whether it runs).',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/(cli|daemon)/', '^src/service/status\\.ts$'] },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'src-does-not-import-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle hides a dependency the type checker cannot see.',
      severity: 'error',
      from: { path: '^src/' },
      // Through value imports: a type-only import is erased at compile time.
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
