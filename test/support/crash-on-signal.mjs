// Preloaded into a real `hexproxy serve` (NODE_OPTIONS=--import=…) by
// test/integration/access-log.test.ts: SIGUSR2 throws an uncaught exception, the way a bug
// crashes the process, so the test can see what the log kept.
process.on('SIGUSR2', () => {
  throw new Error('crash-on-signal: an uncaught exception, as the test asked');
});
