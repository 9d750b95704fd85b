'use strict'

// Shared helpers for writer.js and reader.js: flag/env parsing, temp dirs,
// and one-line JSON output.

const fs = require('fs')
const os = require('os')
const path = require('path')

// parseArgs reads --name value or --name=value flags, falling back to the
// environment variable envName, then to def. spec maps flag name to
// [envName, default].
function parseArgs (argv, spec) {
  const out = {}
  const given = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) fail('unexpected argument: ' + a)
    let name = a.slice(2)
    let value
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    } else {
      if (i + 1 >= argv.length) fail('flag --' + name + ' needs a value')
      value = argv[++i]
    }
    if (!(name in spec)) fail('unknown flag --' + name + ' (known: ' + Object.keys(spec).map(k => '--' + k).join(', ') + ')')
    given[name] = value
  }
  for (const [name, [envName, def]] of Object.entries(spec)) {
    if (name in given) out[name] = given[name]
    else if (envName && process.env[envName] !== undefined && process.env[envName] !== '') out[name] = process.env[envName]
    else out[name] = def
  }
  return out
}

function positiveInt (name, v) {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n <= 0) fail(name + ' must be a positive integer, got ' + JSON.stringify(v))
  return n
}

function portNumber (name, v) {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) fail(name + ' must be a port 0..65535, got ' + JSON.stringify(v))
  return n
}

// storageDir returns a fresh, empty directory for a Hypercore. If dir is
// given (the Go harness passes one it owns and removes) it must be empty or
// absent; otherwise a new one is made under the OS temp dir and removed by
// the returned cleanup function.
function storageDir (dir, prefix) {
  if (dir) {
    fs.mkdirSync(dir, { recursive: true })
    if (fs.readdirSync(dir).length !== 0) fail('storage dir ' + dir + ' is not empty')
    return { dir, cleanup () {} }
  }
  const made = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  return {
    dir: made,
    cleanup () { fs.rmSync(made, { recursive: true, force: true }) }
  }
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (msg) {
  process.stderr.write(msg + '\n')
  process.exit(2)
}

module.exports = { parseArgs, positiveInt, portNumber, storageDir, emit, fail }
