'use strict'

// Shared helpers for the writer and reader scripts (writer.js, reader.js,
// manywriter.js, manyreader.js): flag/env parsing, temp dirs, one-line
// JSON output, the processes' shutdown, and the replication connection.

const fs = require('fs')
const net = require('net')
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

// writerProcess owns the shutdown of a writer script: on SIGTERM, SIGINT
// or, when lifeline is '1', stdin reaching EOF, it closes the server, its
// sockets and the store, removes the storage dir and exits. The script
// sets w.dir (from storageDir) and w.store (anything with close()) as it
// makes them; the handlers are installed by this call, before anything
// else, so a signal at any point (even mid-append) still removes the dir.
function writerProcess (name, lifeline) {
  const sockets = new Set()
  const w = {
    dir: null,
    store: null,
    server: null,
    stopping: false,

    // stop shuts everything down and exits.
    async stop (code) {
      if (w.stopping) return
      w.stopping = true
      const force = setTimeout(() => w.finish(code), 3000) // never hang on close
      force.unref()
      if (w.server) w.server.close()
      for (const s of sockets) s.destroy()
      if (w.store) { try { await w.store.close() } catch {} }
      w.finish(code)
    },

    finish (code) {
      if (w.dir) w.dir.cleanup()
      process.exit(code)
    },

    // serve listens on 127.0.0.1:port and pipes every connection through
    // replicate(); once listening it emits hello(the port).
    serve (port, replicate, hello) {
      w.server = net.createServer({ noDelay: true }, (socket) => {
        sockets.add(socket)
        socket.on('close', () => sockets.delete(socket))
        socket.on('error', () => {}) // peer went away; nothing to do
        const stream = replicate(false) // the reader dials, so it is the initiator
        stream.on('error', () => {})
        socket.pipe(stream).pipe(socket)
      })
      w.server.on('error', (err) => {
        process.stderr.write(name + ': server error: ' + err.message + '\n')
        w.stop(1)
      })
      w.server.listen(port, '127.0.0.1', () => emit(hello(w.server.address().port)))
    },

    // crash reports main's error and exits, unless stopping (closing
    // mid-append makes append throw; stop() exits).
    crash (err) {
      if (w.stopping) return
      process.stderr.write(name + ': ' + (err && err.stack ? err.stack : err) + '\n')
      w.finish(1)
    }
  }
  process.on('SIGTERM', () => w.stop(0))
  process.on('SIGINT', () => w.stop(0))
  if (lifeline === '1') {
    process.stdin.on('end', () => w.stop(0))
    process.stdin.on('error', () => w.stop(0))
    process.stdin.resume()
  }
  return w
}

// readerProcess owns the exits of a reader script: on SIGTERM or SIGINT,
// after timeout seconds (0: never) and on crash it removes the storage
// dir the script set as r.dir and exits (1, 3 and 1).
function readerProcess (name, timeout) {
  const r = {
    dir: null,
    cleanup () { if (r.dir) r.dir.cleanup() },
    crash (err) {
      process.stderr.write(name + ': ' + (err && err.stack ? err.stack : err) + '\n')
      r.cleanup()
      process.exit(1)
    }
  }
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      r.cleanup()
      process.exit(1)
    })
  }
  if (timeout > 0) {
    setTimeout(() => {
      process.stderr.write(name + ': timed out after ' + timeout + 's\n')
      r.cleanup()
      process.exit(3)
    }, timeout * 1000).unref()
  }
  return r
}

// dial connects to the writer on 127.0.0.1:port and pipes the connection
// through replicate(true). closed rejects when the connection closes, so
// a sync fails fast instead of hanging if the writer goes away.
function dial (port, replicate) {
  let socketErr = null
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
  const stream = replicate(true)
  socket.on('error', (err) => { socketErr = err })
  stream.on('error', (err) => { socketErr = socketErr || err })
  socket.pipe(stream).pipe(socket)
  const closed = new Promise((resolve, reject) => {
    socket.on('close', () => reject(socketErr || new Error('connection to writer closed before sync finished')))
  })
  closed.catch(() => {})
  return { socket, closed }
}

// download fetches blocks 0..end-1 of core, failing if closed rejects
// first. done() resolves once the range is stored; it makes sure of it,
// waiting on download events if hints lag.
async function download (core, end, closed) {
  await Promise.race([core.download({ start: 0, end }).done(), closed])
  while (core.contiguousLength < end) {
    await Promise.race([new Promise((resolve) => core.once('download', resolve)), closed])
  }
}

module.exports = { parseArgs, positiveInt, portNumber, storageDir, emit, fail, writerProcess, readerProcess, dial, download }
