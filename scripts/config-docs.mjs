#!/usr/bin/env node
// Writes the reference table of docs/configuration.md (between its markers) from the built
// config modules: `npm run docs:config` builds, then runs this. With --check it writes
// nothing and exits 1 if the file is not what it would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withConfigReference } from '../dist/src/config/reference.js';
import { projectRoot } from '../dist/src/paths.js';

const file = join(projectRoot, 'docs', 'configuration.md');
const current = readFileSync(file, 'utf8');
const wanted = withConfigReference(current);
if (process.argv.includes('--check')) {
  if (wanted !== current) {
    console.error('docs/configuration.md is out of date with src/config/settings.ts and schema.ts: run npm run docs:config');
    process.exit(1);
  }
  console.log('docs/configuration.md is up to date');
} else if (wanted === current) {
  console.log('docs/configuration.md is up to date');
} else {
  writeFileSync(file, wanted);
  console.log('docs/configuration.md: reference table rewritten');
}
