// The walk-through of examples/README.md with the official OpenWhisk JS client (npm
// `openwhisk`), unchanged: the same calls work against Apache OpenWhisk.
//
//   npm install --prefix examples/npm-client
//   node examples/npm-client/walkthrough.mjs
//
// Talks to http://127.0.0.1:3233 as the guest subject unless __OW_API_HOST / __OW_API_KEY
// say otherwise.

import { readFileSync } from 'node:fs'
import openwhisk from 'openwhisk'

const GUEST_KEY = '23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP'
const ow = openwhisk({
  apihost: process.env.__OW_API_HOST || 'http://127.0.0.1:3233',
  api_key: process.env.__OW_API_KEY || GUEST_KEY,
  ignore_certs: true
})
const code = file => readFileSync(new URL(`../actions/${file}`, import.meta.url), 'utf8')
const show = (what, value) => console.log(`${what}:`, JSON.stringify(value, null, 2))

// 1. Create (or replace) a Node.js and a Python action from examples/actions.
await ow.actions.create({ name: 'hello-js', action: code('hello.js'), kind: 'nodejs:20', overwrite: true })
await ow.actions.create({ name: 'hello-py', action: code('hello.py'), kind: 'python:3', overwrite: true })

// 2. Invoke blocking, asking for the result only.
show('hello-js result', await ow.actions.invoke({ name: 'hello-js', blocking: true, result: true, params: { name: 'npm' } }))
show('hello-py result', await ow.actions.invoke({ name: 'hello-py', blocking: true, result: true, params: { name: 'npm' } }))

// 3. Invoke blocking, the full activation record.
const record = await ow.actions.invoke({ name: 'hello-js', blocking: true, params: { name: 'record' } })
console.log(`activation ${record.activationId}: ${record.response.status} in ${record.duration} ms`)

// 4. Invoke non-blocking: an activation id at once; the record is there once it has run.
const { activationId } = await ow.actions.invoke({ name: 'hello-js', params: { name: 'later' } })
let activation
for (let tries = 0; !activation; tries++) {
  try {
    activation = await ow.activations.get({ activationId })
  } catch (e) {
    if (e.statusCode !== 404 || tries > 100) throw e
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
show(`activation ${activationId} result`, activation.response.result)

// 5. Its logs.
show('logs', (await ow.activations.logs({ activationId })).logs)

// 6. List actions and recent activations.
show('actions', (await ow.actions.list({ limit: 10 })).map(a => `${a.name} ${a.exec.kind} v${a.version}`))
show('activations', (await ow.activations.list({ limit: 3 })).map(a => `${a.activationId} ${a.name}`))

// 7. Errors are exceptions carrying the HTTP status.
try {
  await ow.actions.get({ name: 'no-such-action' })
} catch (e) {
  console.log(`get no-such-action: HTTP ${e.statusCode} ${e.error.error}`)
}

// 8. Delete what we created.
await ow.actions.delete({ name: 'hello-js' })
await ow.actions.delete({ name: 'hello-py' })
console.log('deleted hello-js and hello-py')
