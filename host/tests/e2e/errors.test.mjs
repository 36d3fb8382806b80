// Failures as the official client sees them: bad credentials, application errors and
// actions that exceed their time limit.

import test from 'node:test'
import assert from 'node:assert/strict'
import { annotation, apiKey, client, createAction, rejectsWithStatus, uniqueName } from './lib.mjs'

const ow = client()
const TIMEOUT = { timeout: 60000 }

test('a wrong key answers 401', TIMEOUT, async () => {
  const [uuid] = apiKey.split(':')
  const wrongKey = client({ api_key: `${uuid}:not-the-right-key` })
  await rejectsWithStatus(wrongKey.actions.list(), 401)
  const unknownSubject = client({ api_key: '00000000-0000-0000-0000-000000000000:whatever' })
  await rejectsWithStatus(unknownSubject.actions.get({ name: 'anything' }), 401)
})

test('an action returning {error} is an application error: the invoke rejects with 502', TIMEOUT, async () => {
  const name = uniqueName('apperror')
  await createAction(ow, { name, action: 'function main() { return { error: "it went wrong" } }', kind: 'nodejs:20' })

  const error = await rejectsWithStatus(ow.actions.invoke({ name, blocking: true }), 502)
  const record = error.error
  assert.match(record.activationId, /^[0-9a-f]{32}$/)
  assert.equal(record.response.status, 'application error')
  assert.equal(record.response.success, false)
  assert.deepEqual(record.response.result, { error: 'it went wrong' })
  assert.match(error.message, /it went wrong/)

  // With result: true the client rejects the same way.
  const again = await rejectsWithStatus(ow.actions.invoke({ name, blocking: true, result: true }), 502)
  assert.match(again.message, /it went wrong/)
})

test('an action running past its timeout is an action developer error', TIMEOUT, async () => {
  const name = uniqueName('timeout')
  const code = 'function main() { return new Promise(resolve => setTimeout(() => resolve({ late: true }), 3000)) }'
  await createAction(ow, { name, action: code, kind: 'nodejs:20', limits: { timeout: 1000 } })
  assert.equal((await ow.actions.get({ name })).limits.timeout, 1000)

  const started = Date.now()
  const error = await rejectsWithStatus(ow.actions.invoke({ name, blocking: true }), 502)
  const elapsed = Date.now() - started
  const record = error.error
  assert.equal(record.response.status, 'action developer error')
  assert.equal(record.response.success, false)
  assert.match(record.response.result.error, /exceeded its time limits of 1000 milliseconds/)
  assert.equal(annotation(record, 'timeout'), true)
  assert.ok(elapsed < 3000, `the host waited ${elapsed} ms for an action limited to 1000 ms`)

  // The action recovers: a later invoke is answered again (a fresh container).
  const next = await rejectsWithStatus(ow.actions.invoke({ name, blocking: true }), 502)
  assert.equal(next.error.response.status, 'action developer error')
})
