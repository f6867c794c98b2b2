#!/usr/bin/env node
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`runctrl: internal error: ${err instanceof Error ? err.stack : String(err)}`);
    process.exitCode = 70;
  },
);
