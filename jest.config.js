// Two projects: `unit` (pure logic, no servers) and `integration` (real servers
// started once per run by test/harness/global-setup.ts). scripts/test.sh picks
// which ones run and makes sure they run on Node 24.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2024' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const shared = {
  transform: { '^.+\\.ts$': swc },
  extensionsToTreatAsEsm: ['.ts'],
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  // Servers are shared by all test files. Three workers on a 2-core machine: most integration
  // files spend their time waiting (outages held for 60 s, leases running out, a real node
  // starting), so a third file in flight shortens the run without starving the servers.
  maxWorkers: 3,
  // Integration tests wait on real servers and processes (a project-level testTimeout is ignored).
  testTimeout: 120_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      // The WhatsApp Web simulator's own end-to-end tests: unmodified Baileys
      // against wa-sim over real sockets; they need none of the servers.
      ...shared,
      displayName: 'simulator',
      testMatch: ['<rootDir>/wa-sim/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
