#!/usr/bin/env node
// A `solc` executable for forge, backed by solcjs (the npm `solc` package).
//
// Forge cannot download native compilers here, so `contracts/foundry.toml` points at this
// shim. Forge only ever calls two forms, and this shim answers exactly those:
//
//   solc --version
//   solc [--allow-paths P] [--base-path P] [--include-path P]... --standard-json   (input on stdin)
//
// Anything else fails loudly with exit code 2 so a changed forge is noticed at once.
//
// The compiler output is written synchronously and completely before exiting: a plain
// `process.stdout.write` followed by `process.exit` truncates output above 64 KiB on a pipe,
// and forge then reports a confusing JSON error.
'use strict';

const fs = require('fs');
const path = require('path');

function fail(message) {
  fs.writeSync(2, `solc-shim: ${message}\n`);
  process.exit(2);
}

function writeAllSync(fd, text) {
  const buffer = Buffer.from(text, 'utf8');
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset, buffer.length - offset);
    } catch (err) {
      // A non-blocking pipe that is full answers EAGAIN: wait briefly and retry.
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, allowPaths: [], includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--version':
        opts.version = true;
        break;
      case '--standard-json':
        opts.standardJson = true;
        break;
      case '--base-path':
        opts.basePath = takeValue();
        break;
      case '--allow-paths':
        opts.allowPaths.push(...takeValue().split(',').filter(Boolean));
        break;
      case '--include-path':
        opts.includePaths.push(takeValue());
        break;
      default:
        fail(`unsupported argument '${arg}' (this shim supports --version and --standard-json only)`);
    }
  }
  if (opts.version === opts.standardJson) fail('expected exactly one of --version or --standard-json');
  return opts;
}

// Resolves an import that forge did not already inline, restricted to the base path, the include
// paths and the allowed paths, like native solc.
function makeImportCallback(opts) {
  const roots = [opts.basePath, ...opts.includePaths].filter(Boolean).map((p) => path.resolve(p));
  const allowed = [...roots, ...opts.allowPaths.map((p) => path.resolve(p))];
  if (roots.length === 0) roots.push(process.cwd());
  return (importPath) => {
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      if (!allowed.some((dir) => candidate === dir || candidate.startsWith(dir + path.sep))) continue;
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: `File not found inside the base, include or allowed paths: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = require('solc');
  if (opts.version) {
    // Native solc's format, which forge parses: the second line holds the semver.
    const full = solc.version().replace('.Emscripten.clang', '.Linux.g++');
    writeAllSync(1, `solc, the solidity compiler commandline interface\nVersion: ${full}\n`);
    return;
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: makeImportCallback(opts) });
  writeAllSync(1, output);
}

main();
