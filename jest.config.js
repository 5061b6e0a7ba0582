/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec', '<rootDir>/examples'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }],
  },
  moduleNameMapper: {
    '^rx-tcp$': '<rootDir>/src/index.ts',
    '^rx-tcp/operators$': '<rootDir>/src/operators/index.ts',
    '^rx-tcp/testing$': '<rootDir>/src/testing/index.ts',
  },
  testTimeout: 30000,
};
