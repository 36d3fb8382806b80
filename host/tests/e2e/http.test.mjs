// What the client cannot express: plain HTTP checks of the API's info document, the 401
// challenge and the error body.

import test from 'node:test'
import assert from 'node:assert/strict'
import { apiKey, apihost, uniqueName } from './lib.mjs'

const TIMEOUT = { timeout: 30000 }
const basic = key => `Basic ${Buffer.from(key).toString('base64')}`

test('GET /api/v1 without credentials lists the auth mechanisms', TIMEOUT, async () => {
  const res = await fetch(`${apihost}/api/v1`)
  assert.equal(res.status, 200)
  assert.match(res.headers.get('content-type'), /application\/json/)
  const body = await res.json()
  assert.ok(Array.isArray(body.auth_mechanisms), `body: ${JSON.stringify(body)}`)
  assert.ok(body.auth_mechanisms.length >= 1, `body: ${JSON.stringify(body)}`)
})

test('a 401 carries the Basic challenge', TIMEOUT, async () => {
  for (const headers of [{}, { authorization: basic(`${apiKey.split(':')[0]}:wrong`) }]) {
    const res = await fetch(`${apihost}/api/v1/namespaces/_/actions`, { headers })
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="whisk"')
    const body = await res.json()
    assert.equal(typeof body.error, 'string')
    assert.ok('code' in body, `no code in ${JSON.stringify(body)}`)
  }
})

test('errors are {error, code} JSON', TIMEOUT, async () => {
  const res = await fetch(`${apihost}/api/v1/namespaces/_/actions/${uniqueName('nothing')}`, {
    headers: { authorization: basic(apiKey) }
  })
  assert.equal(res.status, 404)
  assert.match(res.headers.get('content-type'), /application\/json/)
  const body = await res.json()
  assert.equal(typeof body.error, 'string')
  assert.ok(body.error.length > 0)
  assert.ok(['string', 'number'].includes(typeof body.code), `code in ${JSON.stringify(body)}`)
})

test('a non-blocking invoke answers 202 with the activation id', TIMEOUT, async () => {
  const headers = { authorization: basic(apiKey), 'content-type': 'application/json' }
  const action = `${apihost}/api/v1/namespaces/_/actions/${uniqueName('accepted')}`
  const put = await fetch(action, {
    method: 'PUT', headers, body: JSON.stringify({ exec: { kind: 'nodejs:20', code: 'function main() { return {} }' } })
  })
  assert.equal(put.status, 200)
  const res = await fetch(action, { method: 'POST', headers, body: '{}' })
  assert.equal(res.status, 202)
  const body = await res.json()
  assert.match(body.activationId, /^[0-9a-f]{32}$/)
  assert.deepEqual(Object.keys(body), ['activationId'])
})
