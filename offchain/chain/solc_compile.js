// Compile a Solidity standard-JSON input read from stdin with the npm `solc`
// package (the official compiler as WebAssembly) and print the standard-JSON
// output on stdout. Imports are resolved relative to the project root, which
// is the current working directory; remappings come from the input settings.
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = process.cwd();

function findImports(importPath) {
  const resolved = path.resolve(root, importPath);
  if (!resolved.startsWith(root + path.sep)) {
    return { error: `import ${importPath} resolves outside the project` };
  }
  try {
    return { contents: fs.readFileSync(resolved, 'utf8') };
  } catch (err) {
    return { error: `cannot read import ${importPath}: ${err.message}` };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const output = solc.compile(input, { import: findImports });
  process.stdout.write(output);
  process.stdout.write('\n');
  process.stdout.write(JSON.stringify({ solcVersion: solc.version() }));
});
