// Invocations through the official client: blocking (result only and full record),
// non-blocking with polling, logs, default parameters, and concurrent invokes.

import test from 'node:test'
import assert from 'node:assert/strict'
import { annotation, client, createAction, exampleAction, poll, uniqueName, until404Ends } from './lib.mjs'

const ow = client()
const TIMEOUT = { timeout: 60000 }
const SENTINEL = 'XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX'

test('blocking invoke with result: true answers just the result', TIMEOUT, async () => {
  const name = uniqueName('result')
  await createAction(ow, { name, action: exampleAction('hello.js'), kind: 'nodejs:20' })
  const result = await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'whisk' } })
  assert.deepEqual(result, { greeting: 'Hello, whisk!' })
})

test('blocking invoke answers the full activation record, initTime only when cold', TIMEOUT, async () => {
  const name = uniqueName('record')
  await createAction(ow, { name, action: exampleAction('hello.js'), kind: 'nodejs:20' })

  const cold = await ow.actions.invoke({ name, blocking: true, params: { name: 'cold' } })
  assert.match(cold.activationId, /^[0-9a-f]{32}$/)
  assert.equal(cold.namespace, 'guest')
  assert.equal(cold.name, name)
  assert.equal(cold.version, '0.0.1')
  assert.equal(cold.response.status, 'success')
  assert.equal(cold.response.success, true)
  assert.deepEqual(cold.response.result, { greeting: 'Hello, cold!' })
  assert.equal(typeof cold.start, 'number')
  assert.equal(typeof cold.end, 'number')
  assert.ok(cold.end >= cold.start, `end ${cold.end} before start ${cold.start}`)
  assert.equal(typeof cold.duration, 'number')

  assert.equal(annotation(cold, 'path'), `guest/${name}`)
  assert.equal(annotation(cold, 'kind'), 'nodejs:20')
  const limits = annotation(cold, 'limits')
  assert.equal(typeof limits, 'object', `limits annotation: ${JSON.stringify(cold.annotations)}`)
  assert.equal(typeof limits.timeout, 'number')
  assert.equal(typeof limits.memory, 'number')
  assert.equal(typeof annotation(cold, 'waitTime'), 'number')
  const initTime = annotation(cold, 'initTime')
  assert.equal(typeof initTime, 'number', `no initTime on a cold invoke: ${JSON.stringify(cold.annotations)}`)
  assert.ok(initTime >= 0)

  const warm = await ow.actions.invoke({ name, blocking: true, params: { name: 'warm' } })
  assert.notEqual(warm.activationId, cold.activationId)
  assert.deepEqual(warm.response.result, { greeting: 'Hello, warm!' })
  assert.equal(annotation(warm, 'initTime'), undefined,
    `the second invoke was not warm (initTime present): ${JSON.stringify(warm.annotations)}`)
})

test('non-blocking invoke answers an activationId, the record appears later', TIMEOUT, async () => {
  const name = uniqueName('async')
  await createAction(ow, { name, action: exampleAction('hello.js'), kind: 'nodejs:20' })

  const started = await ow.actions.invoke({ name, params: { name: 'later' } })
  assert.match(started.activationId, /^[0-9a-f]{32}$/, `answer: ${JSON.stringify(started)}`)
  assert.equal(started.response, undefined, 'a non-blocking invoke must not wait for the result')

  const record = await until404Ends(() => ow.activations.get({ activationId: started.activationId }))
  assert.equal(record.activationId, started.activationId)
  assert.equal(record.name, name)
  assert.equal(record.response.status, 'success')
  assert.deepEqual(record.response.result, { greeting: 'Hello, later!' })
})

test('activation logs are the printed lines, in order, without the sentinel', TIMEOUT, async () => {
  const name = uniqueName('logs')
  const code = `function main() {
    console.log('first line')
    console.log('second line')
    console.error('to stderr')
    console.log('third line')
    return { ok: true }
  }`
  await createAction(ow, { name, action: code, kind: 'nodejs:20' })
  const record = await ow.actions.invoke({ name, blocking: true })
  const id = record.activationId

  // Logs may be collected after the response was sent: wait for all four lines.
  const { logs } = await poll(() => ow.activations.logs({ activationId: id }), r => r.logs && r.logs.length >= 4)
  assert.ok(Array.isArray(logs), `logs: ${JSON.stringify(logs)}`)
  assert.equal(logs.length, 4, `logs: ${JSON.stringify(logs)}`)
  for (const line of logs) assert.ok(!line.includes(SENTINEL), `sentinel in logs: ${JSON.stringify(logs)}`)

  // OpenWhisk's format: "<time> stdout: <message>".
  const parsed = logs.map(line => {
    const m = /^(\S+)\s+(stdout|stderr): (.*)$/.exec(line)
    assert.ok(m, `not an OpenWhisk log line: ${JSON.stringify(line)}`)
    assert.ok(!Number.isNaN(Date.parse(m[1])), `bad time in ${JSON.stringify(line)}`)
    return { stream: m[2], message: m[3] }
  })
  assert.deepEqual(parsed.filter(l => l.stream === 'stdout').map(l => l.message),
    ['first line', 'second line', 'third line'])
  assert.deepEqual(parsed.filter(l => l.stream === 'stderr').map(l => l.message), ['to stderr'])

  // The stored record carries the same lines.
  const stored = await until404Ends(() => ow.activations.get({ activationId: id }))
  assert.deepEqual(stored.logs, logs)
})

test('default parameters are merged under the invoke parameters', TIMEOUT, async () => {
  const name = uniqueName('params')
  const code = 'function main(p) { return { greeting: p.greeting, name: p.name, extra: p.extra } }'
  await createAction(ow, { name, action: code, kind: 'nodejs:20', params: { greeting: 'Hi', name: 'default' } })

  const got = await ow.actions.get({ name })
  assert.deepEqual(
    [...got.parameters].sort((a, b) => a.key.localeCompare(b.key)),
    [{ key: 'greeting', value: 'Hi' }, { key: 'name', value: 'default' }])

  assert.deepEqual(await ow.actions.invoke({ name, blocking: true, result: true }),
    { greeting: 'Hi', name: 'default' })
  assert.deepEqual(await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'given', extra: 1 } }),
    { greeting: 'Hi', name: 'given', extra: 1 })
})

test('32 concurrent blocking invokes all succeed with their own results', { timeout: 180000 }, async () => {
  const name = uniqueName('concurrent')
  const code = `function main(p) {
    return new Promise(resolve => setTimeout(() => resolve({ n: p.n, doubled: p.n * 2 }), 100))
  }`
  await createAction(ow, { name, action: code, kind: 'nodejs:20' })

  const ns = Array.from({ length: 32 }, (_, i) => i)
  const records = await Promise.all(ns.map(n => ow.actions.invoke({ name, blocking: true, params: { n } })))
  for (const [n, record] of records.entries()) {
    assert.equal(record.response.status, 'success', `invoke ${n}: ${JSON.stringify(record.response)}`)
    assert.deepEqual(record.response.result, { n, doubled: n * 2 })
  }
  assert.equal(new Set(records.map(r => r.activationId)).size, 32, 'activation ids are not distinct')
})
