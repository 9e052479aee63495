// Writes lines through hexproxy's logger (dist/src/log.js) on stdout and then ends the
// process in the same turn of the event loop, while those lines still wait for the turn's
// end: `exit` calls process.exit(0) (a normal shutdown), `throw` throws an uncaught exception
// (a crash). Used by test/integration/access-log.test.ts.
//   node log-then-end.mjs DIST_DIR exit|throw COUNT
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir = '', how = 'exit', count = '1'] = process.argv.slice(2);
const { accessLog, createLogger } = await import(pathToFileURL(join(distDir, 'src', 'log.js')).href);
const log = createLogger('info');
const access = accessLog(log);
setTimeout(() => {
  log.info('before the requests');
  for (let i = 1; i <= Number(count); i += 1)
    access.write({ reqId: `r-${i}`, method: 'GET', path: '/packages/x', status: 200, cache: 'HIT', ms: 0.1 });
  log.warn('the last line');
  if (how === 'exit') process.exit(0);
  throw new Error('log-then-end: an uncaught exception, as the test asked');
}, 0);
