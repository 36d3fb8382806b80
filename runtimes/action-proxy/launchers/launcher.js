// whisk action-proxy launcher for Node.js actions (OpenWhisk ActionLoop protocol).
//
// Started once per action as `node launcher.js <code file> <entry point>`, with fd 3 open
// for results. Loads the action, answers {"ok":true} (or {"error":...}) on fd 3, then for
// each JSON line on stdin: sets __OW_<KEY> for each key but "value", calls the entry point
// with "value", writes the sentinel on stdout and stderr, and the result as one line on fd 3.
// See ../README.md.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');

const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX';
const RESULT_FD = 3;
const MAIN_SLOT = Symbol.for('whisk.action.main');

function answer(result) {
  let text;
  try {
    text = JSON.stringify(result);
  } catch (err) {
    text = JSON.stringify({ error: `The action returned a value that is not JSON: ${err}` });
  }
  // undefined, a function or a symbol has no JSON: the proxy answers "not a dictionary".
  const data = Buffer.from((text === undefined ? 'null' : text) + '\n');
  let offset = 0;
  while (offset < data.length) {
    offset += fs.writeSync(RESULT_FD, data, offset);
  }
}

// OpenWhisk's nodejs runtime accepts `exports.main` / `module.exports.main` as well as a
// top-level `function main` that is never exported. The code runs as a CommonJS module (so
// `require` works); a trailer appended to it publishes the top-level function, if any.
function loadEntryPoint(codeFile, name) {
  const code = fs.readFileSync(codeFile, 'utf8');
  const isIdentifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name);
  const trailer = isIdentifier
    ? `\n;globalThis[Symbol.for('whisk.action.main')] = (typeof ${name} === 'function') ? ${name} : undefined;\n`
    : '\n';
  const moduleFile = path.join(path.dirname(codeFile), 'action.cjs');
  fs.writeFileSync(moduleFile, code + trailer);
  const exported = require(moduleFile);
  if (exported && typeof exported[name] === 'function') {
    return exported[name];
  }
  if (typeof globalThis[MAIN_SLOT] === 'function') {
    return globalThis[MAIN_SLOT];
  }
  throw new Error(`Action entrypoint '${name}' is not a function.`);
}

// A rejected promise becomes {error: <reason>}, an Error as its name, message and stack.
function rejectionReason(reason) {
  if (!reason) {
    return {};
  }
  if (reason instanceof Error) {
    return { ...reason, name: reason.name, message: reason.message, stack: reason.stack };
  }
  return reason;
}

async function invoke(main, params) {
  let returned;
  try {
    returned = main(params);
  } catch (err) {
    console.error(err && err.stack ? err.stack : String(err));
    return { error: `An error has occurred: ${err}` };
  }
  try {
    const result = await returned;
    return result === undefined ? {} : result;
  } catch (reason) {
    return { error: rejectionReason(reason) };
  }
}

// Context of the previous activation must not leak into the next one.
function setActivationEnv(message, previous) {
  for (const name of previous) {
    delete process.env[name];
  }
  const names = [];
  for (const [key, value] of Object.entries(message)) {
    if (key === 'value' || value === null || value === undefined) {
      continue;
    }
    const name = `__OW_${key.toUpperCase()}`;
    process.env[name] = typeof value === 'string' ? value : JSON.stringify(value);
    names.push(name);
  }
  return names;
}

function writeLine(stream, text) {
  return new Promise((resolve) => stream.write(`${text}\n`, () => resolve()));
}

// Waiting for each write's callback puts the sentinels after all output queued before.
async function endActivation() {
  await writeLine(process.stdout, SENTINEL);
  await writeLine(process.stderr, SENTINEL);
}

async function serve(main) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  let envNames = [];
  for await (const line of lines) {
    if (!line.trim()) {
      continue;
    }
    let result;
    try {
      const message = JSON.parse(line);
      envNames = setActivationEnv(message, envNames);
      result = await invoke(main, message.value === undefined ? {} : message.value);
    } catch (err) {
      result = { error: `An error has occurred: ${err}` };
    }
    await endActivation();
    answer(result);
  }
}

function start() {
  const [codeFile, name = 'main'] = process.argv.slice(2);
  let main;
  try {
    main = loadEntryPoint(codeFile, name);
  } catch (err) {
    answer({ error: `Initialization has failed due to: ${err}` });
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`, () => process.exit(1));
    return;
  }
  answer({ ok: true });
  // The proxy closed stdin: it is gone, and so is this action.
  serve(main).then(() => process.exit(0));
}

start();
