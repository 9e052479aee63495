// Writes lines through hexproxy's logger (dist/src/log.js) on stdout and then ends the
// process in the same turn of the event loop, while those lines still wait for the turn's
// end: `exit` calls process.exit(0) (a normal shutdown), `throw` throws an uncaught exception
// (a crash). With `nonblocking`, stdout is opened first, which makes a pipe non-blocking as
// `serve` does to a pipe it shares with stderr: a write larger than the pipe then comes back
// partial and the rest must follow. Used by test/integration/access-log.test.ts.
//   node log-then-end.mjs DIST_DIR exit|throw COUNT [nonblocking]
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir = '', how = 'exit', count = '1', stdout = ''] = process.argv.slice(2);
if (stdout === 'nonblocking' && !process.stdout.writable) throw new Error('stdout is not writable');
const { accessLog, createLogger } = await import(pathToFileURL(join(distDir, 'src', 'log.js')).href);
const log = createLogger('info');
const access = accessLog(log);
setTimeout(() => {
  log.info('before the requests');
  // A two-byte character in every line: a partial write may end in the middle of one.
  for (let i = 1; i <= Number(count); i += 1) access.write({ reqId: `r-${i}`, method: 'GET', path: '/ui/search/café', status: 200, ms: 0.1 });
  log.warn('the last line');
  if (how === 'exit') process.exit(0);
  throw new Error('log-then-end: an uncaught exception, as the test asked');
}, 0);
