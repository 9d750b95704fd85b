'use strict'

// manywriter.js: the source side of the many-authors Hypercore benchmark.
//
// Hypercore is single-writer, so each author is its own core: a Corestore
// in a fresh storage dir holds --authors cores (by name), and each core
// gets --per blocks of --size random bytes, one append per block (a chat
// message is one append; nothing is batched). The authors append
// concurrently, each in its own order. Then it writes the cores' public
// keys, one hex key a line, to --keys (the reader opens the same cores by
// key: Corestore replication does not exchange keys), listens on
// 127.0.0.1:--port and replicates the whole Corestore to every peer that
// connects, until it is told to stop (SIGTERM, SIGINT, or stdin closing
// when --stdin-lifeline 1).
//
// Once it is listening it prints one JSON line on stdout:
//   {"port":<n>,"cores":<n>,"blocks":<n>,"bytes":<n>,"append_seconds":<s>}
// Diagnostics go to stderr.
//
// Flags (env fallback in brackets):
//   --authors N       [BENCH_AUTHORS]     number of cores (default 100)
//   --per P           [BENCH_PER]         blocks per core (default 200)
//   --size S          [BENCH_BLOCK_SIZE]  bytes per block (default 20)
//   --port P          [BENCH_PORT]        TCP port on 127.0.0.1; 0 picks one (default 0)
//   --dir D           [BENCH_DIR]         storage dir (must be empty/absent); default: fresh temp dir, removed on exit
//   --keys F          [BENCH_KEYS]        file to write the cores' keys to (required)
//   --stdin-lifeline L                    1: exit when stdin reaches EOF (default 0)

const fs = require('fs')
const crypto = require('crypto')
const Corestore = require('corestore')
const { parseArgs, positiveInt, portNumber, storageDir, fail, writerProcess } = require('./common')

const args = parseArgs(process.argv.slice(2), {
  authors: ['BENCH_AUTHORS', '100'],
  per: ['BENCH_PER', '200'],
  size: ['BENCH_BLOCK_SIZE', '20'],
  port: ['BENCH_PORT', '0'],
  dir: ['BENCH_DIR', ''],
  keys: ['BENCH_KEYS', ''],
  'stdin-lifeline': [null, '0']
})

const authors = positiveInt('--authors', args.authors)
const per = positiveInt('--per', args.per)
const size = positiveInt('--size', args.size)
const port = portNumber('--port', args.port)
if (!args.keys) fail('--keys: a file to write the cores\' keys to is required')

// Installed before anything else: see writerProcess.
const w = writerProcess('manywriter', args['stdin-lifeline'])

// author appends per blocks to core, one append each.
async function author (core) {
  const buf = crypto.randomBytes(size * per)
  for (let i = 0; i < per; i++) {
    if (w.stopping) return
    await core.append(buf.subarray(i * size, (i + 1) * size))
  }
}

async function main () {
  w.dir = storageDir(args.dir, 'loam-bench-hc-manywriter-')
  const store = w.store = new Corestore(w.dir.dir)
  const cores = []
  for (let i = 0; i < authors; i++) cores.push(store.get({ name: 'author-' + i }))
  await Promise.all(cores.map(c => c.ready()))

  // Append. Not part of the measured sync time; reported for information.
  const t0 = process.hrtime.bigint()
  await Promise.all(cores.map(author))
  const appendSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  for (const c of cores) {
    if (c.length !== per) throw new Error('core has ' + c.length + ' blocks, wanted ' + per)
  }
  fs.writeFileSync(args.keys, cores.map(c => c.key.toString('hex')).join('\n') + '\n')

  w.serve(port, (initiator) => store.replicate(initiator), (listening) => ({
    port: listening,
    cores: authors,
    blocks: authors * per,
    bytes: authors * per * size,
    append_seconds: appendSeconds
  }))
}

main().catch(w.crash)
