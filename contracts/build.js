// Compiles the contracts with the solc-js module given as the first argument
// and writes one JSON artifact (abi, bytecode, deployedBytecode) per contract
// into the directory given as the second argument, laid out as in this folder:
// out/ for the production contracts, testtoken/out/ for the test tokens.
// The compiler settings below are part of the build: changing them changes the
// bytecode and so every deposit address.
'use strict';
const fs = require('fs');
const path = require('path');

const [solcPath, dest] = process.argv.slice(2);
if (!solcPath || !dest) {
  console.error('usage: node build.js <path to solc module> <output dir>');
  process.exit(2);
}
const solc = require(path.resolve(solcPath));

// Source units by their import name, and where each unit's artifacts go.
const units = {
  'Forwarder.sol': 'out',
  'ForwarderFactory.sol': 'out',
  'testtoken/TestTokens.sol': 'testtoken/out',
};

const input = {
  language: 'Solidity',
  sources: {},
  settings: {
    // shanghai (PUSH0) runs on Ethereum and on every EVM chain the gateway
    // configures; a newer target would tie the bytecode to newer forks.
    evmVersion: 'shanghai',
    optimizer: { enabled: true, runs: 200 },
    // No metadata hash or CBOR trailer: the bytecode depends on the source
    // and these settings only, so the same code compiles identically anywhere.
    metadata: { bytecodeHash: 'none', appendCBOR: false },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
for (const name of Object.keys(units)) {
  input.sources[name] = { content: fs.readFileSync(path.join(__dirname, name), 'utf8') };
}

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

for (const [unit, dir] of Object.entries(units)) {
  const outDir = path.join(dest, dir);
  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, c] of Object.entries(output.contracts[unit] || {})) {
    const artifact = {
      contractName: name,
      compiler: 'solc ' + solc.version(),
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
    };
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(artifact, null, 2) + '\n');
  }
}
