// Setup file (vitest.config.ts): every test file removes the temporary directories it made.
import { afterAll } from 'vitest';
import { killCliServers } from './cli.js';
import { killNginx } from './nginx.js';
import { removeTempDirs } from './proxy.js';

afterAll(() => {
  killCliServers();
  killNginx();
  removeTempDirs();
});
