// Action CRUD through the official client: create (explicit and default kind, Node.js and
// Python), get, list with paging, update, delete, and the CRUD error statuses.

import test from 'node:test'
import assert from 'node:assert/strict'
import { apihost, client, createAction, exampleAction, rejectsWithStatus, uniqueName } from './lib.mjs'

const ow = client()
const TIMEOUT = { timeout: 60000 }

test('create a nodejs:20 action, get it back and invoke it', TIMEOUT, async () => {
  const name = uniqueName('node20')
  const created = await createAction(ow, { name, action: exampleAction('hello.js'), kind: 'nodejs:20' })
  assert.equal(created.namespace, 'guest')
  assert.equal(created.version, '0.0.1')
  assert.equal(created.exec.kind, 'nodejs:20')

  const got = await ow.actions.get({ name })
  assert.equal(got.name, name)
  assert.equal(got.namespace, 'guest')
  assert.equal(got.exec.kind, 'nodejs:20')
  assert.equal(got.exec.code, exampleAction('hello.js'))
  assert.equal(typeof got.limits.timeout, 'number')
  assert.equal(typeof got.limits.memory, 'number')

  const result = await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'node' } })
  assert.deepEqual(result, { greeting: 'Hello, node!' })
})

test('create an action without kind: the client sends nodejs:default', TIMEOUT, async () => {
  const name = uniqueName('nodedefault')
  const created = await createAction(ow, { name, action: exampleAction('hello.js') })
  // OpenWhisk resolves `nodejs:default` to the kind of the runtime its info document marks
  // as the default when it stores the action.
  const info = await (await fetch(`${apihost}/api/v1`)).json()
  const nodeDefault = (info.runtimes?.nodejs ?? []).find(r => r.default)
  assert.ok(nodeDefault, `no default nodejs runtime in GET /api/v1: ${JSON.stringify(info.runtimes)}`)
  assert.equal(created.exec.kind, nodeDefault.kind)
  assert.equal((await ow.actions.get({ name })).exec.kind, nodeDefault.kind)

  const result = await ow.actions.invoke({ name, blocking: true, result: true })
  assert.deepEqual(result, { greeting: 'Hello, stranger!' })
})

test('create a python:3 action and invoke it', TIMEOUT, async () => {
  const name = uniqueName('python')
  const created = await createAction(ow, { name, action: exampleAction('hello.py'), kind: 'python:3' })
  assert.equal(created.exec.kind, 'python:3')

  const result = await ow.actions.invoke({ name, blocking: true, result: true, params: { name: 'py' } })
  assert.deepEqual(result, { greeting: 'Hello, py!' })
})

test('list actions with limit and skip pages through all of them', TIMEOUT, async () => {
  const mine = []
  for (let i = 0; i < 5; i++) {
    const name = uniqueName('list')
    await createAction(ow, { name, action: 'function main() { return {} }', kind: 'nodejs:20' })
    mine.push(name)
  }

  const all = await ow.actions.list({ limit: 200 })
  assert.ok(Array.isArray(all), `list answered ${JSON.stringify(all)}`)
  const allNames = all.map(a => a.name)
  for (const name of mine) assert.ok(allNames.includes(name), `${name} missing from ${allNames}`)
  assert.equal(new Set(allNames).size, allNames.length, 'a name is listed twice')
  for (const a of all) {
    assert.equal(a.namespace, 'guest')
    assert.equal(typeof a.version, 'string')
  }

  const first = await ow.actions.list({ limit: 2 })
  assert.equal(first.length, 2)
  assert.deepEqual(first.map(a => a.name), allNames.slice(0, 2))

  const paged = []
  for (let skip = 0; skip < allNames.length; skip += 2) {
    const page = await ow.actions.list({ limit: 2, skip })
    assert.ok(page.length > 0 && page.length <= 2, `page at skip=${skip} has ${page.length} entries`)
    paged.push(...page.map(a => a.name))
  }
  assert.deepEqual(paged, allNames, 'pages of 2 do not add up to the full list')

  const beyond = await ow.actions.list({ limit: 2, skip: allNames.length })
  assert.deepEqual(beyond, [])
})

test('update changes the behaviour and bumps the version', TIMEOUT, async () => {
  const name = uniqueName('update')
  await createAction(ow, { name, action: 'function main() { return { v: 1 } }', kind: 'nodejs:20' })
  // Warm a container with the first version: the update must not be served by it.
  assert.deepEqual(await ow.actions.invoke({ name, blocking: true, result: true }), { v: 1 })

  const updated = await ow.actions.update({ name, action: 'function main() { return { v: 2 } }', kind: 'nodejs:20' })
  assert.equal(updated.version, '0.0.2')
  assert.equal((await ow.actions.get({ name })).version, '0.0.2')
  assert.deepEqual(await ow.actions.invoke({ name, blocking: true, result: true }), { v: 2 })
})

test('delete, then get answers 404', TIMEOUT, async () => {
  const name = uniqueName('delete')
  await createAction(ow, { name, action: 'function main() { return {} }', kind: 'nodejs:20' })
  const deleted = await ow.actions.delete({ name })
  assert.equal(deleted.name, name)
  await rejectsWithStatus(ow.actions.get({ name }), 404)
  await rejectsWithStatus(ow.actions.invoke({ name, blocking: true }), 404)
  await rejectsWithStatus(ow.actions.delete({ name }), 404)
})

test('get of a missing action answers 404', TIMEOUT, async () => {
  const error = await rejectsWithStatus(ow.actions.get({ name: uniqueName('missing') }), 404)
  assert.equal(typeof error.error.error, 'string')
})

test('create twice without overwrite answers 409', TIMEOUT, async () => {
  const name = uniqueName('twice')
  await createAction(ow, { name, action: 'function main() { return { v: 1 } }', kind: 'nodejs:20' })
  const error = await rejectsWithStatus(
    ow.actions.create({ name, action: 'function main() { return { v: 2 } }', kind: 'nodejs:20' }), 409)
  assert.equal(typeof error.error.error, 'string')
  // The first version is untouched.
  const got = await ow.actions.get({ name })
  assert.equal(got.version, '0.0.1')
  assert.match(got.exec.code, /v: 1/)
})
