// Shared helpers of the end-to-end suite: the client from the environment, unique names,
// and assertions on the OpenWhisk client's errors. Not a test file itself (no `.test.`).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import openwhisk from 'openwhisk'

/** `http://127.0.0.1:PORT` of the whisk server under test. */
export const apihost = requiredEnv('__OW_API_HOST')
/** `uuid:key` of the guest subject. */
export const apiKey = requiredEnv('__OW_API_KEY')

function requiredEnv (name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set: run this suite through \`cargo test -p whisk-host --test npm_client\`, ` +
      'or set __OW_API_HOST (e.g. http://127.0.0.1:3233) and __OW_API_KEY yourself')
  }
  return value
}

/** The official client, as an action developer would create it. */
export function client (options = {}) {
  return openwhisk({ apihost, api_key: apiKey, ignore_certs: true, ...options })
}

/** The example actions of the repository (examples/actions). */
const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'examples', 'actions')
export function exampleAction (file) {
  return readFileSync(join(examples, file), 'utf8')
}

// Unique per run, so the suite also works against a server that has seen earlier runs.
const run = `${Date.now().toString(36)}${process.pid.toString(36)}`
let counter = 0
/** A fresh action name with a readable prefix. */
export function uniqueName (prefix) {
  counter += 1
  return `e2e-${prefix}-${run}-${counter}`
}

/**
 * Awaits a promise that must reject with an OpenWhisk client error of the given HTTP status,
 * and returns the error (its `.error` is the response body).
 */
export async function rejectsWithStatus (promise, statusCode) {
  let error
  try {
    const value = await promise
    assert.fail(`expected HTTP ${statusCode}, but the request succeeded with ${JSON.stringify(value)}`)
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e
    error = e
  }
  assert.equal(error.statusCode, statusCode,
    `expected HTTP ${statusCode}, got ${error.statusCode}: ${error.message} body=${JSON.stringify(error.error)}`)
  return error
}

/** The value of an annotation of an entity or activation record, or undefined. */
export function annotation (record, key) {
  assert.ok(Array.isArray(record.annotations), `annotations is not an array: ${JSON.stringify(record)}`)
  const found = record.annotations.find(a => a.key === key)
  return found === undefined ? undefined : found.value
}

/** Calls `fn` until it resolves (retrying while it rejects with HTTP 404), up to `ms`. */
export async function until404Ends (fn, ms = 30000) {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (e.statusCode !== 404 || Date.now() > deadline) throw e
    }
    await sleep(100)
  }
}

/** Calls `fn` until `done(value)` holds, up to `ms`; returns the last value. */
export async function poll (fn, done, ms = 30000) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await fn()
    if (done(value) || Date.now() > deadline) return value
    await sleep(100)
  }
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Creates an action and checks the answer is the action document. */
export async function createAction (ow, options) {
  const action = await ow.actions.create(options)
  assert.equal(action.name, options.name, `create answered ${JSON.stringify(action)}`)
  return action
}
