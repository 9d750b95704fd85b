'use strict'

// reader.js: the sink side of the Hypercore sync benchmark.
//
// Opens an empty Hypercore for --key in a fresh storage dir, dials
// 127.0.0.1:--port (where writer.js listens), replicates, and downloads
// blocks 0..--blocks-1. Hypercore verifies every block against the signed
// Merkle tree before storing it; the clock runs from just before the TCP
// connect until every block is verified and stored locally
// (core.download({start: 0, end: N}).done() resolved and
// core.contiguousLength === N). Opening the local store and the writer's
// appends are outside the measured time.
//
// Prints one JSON line on stdout:
//   {"blocks":N,"bytes":B,"seconds":s,"blocks_per_s":x,"mb_per_s":y}
// where MB is 10^6 bytes. Diagnostics go to stderr.
//
// Flags (env fallback in brackets):
//   --key K        [BENCH_KEY]        the writer's core key, hex (required)
//   --port P       [BENCH_PORT]       the writer's port on 127.0.0.1 (required)
//   --blocks N     [BENCH_BLOCKS]     number of blocks to download (required)
//   --size S       [BENCH_BLOCK_SIZE] expected bytes per block; if given, total bytes are checked (default: unchecked)
//   --dir D        [BENCH_DIR]        storage dir (must be empty/absent); default: fresh temp dir, removed on exit
//   --timeout T    [BENCH_TIMEOUT]    give up after T seconds (default 0 = never)

const Hypercore = require('hypercore')
const { parseArgs, positiveInt, portNumber, storageDir, emit, fail, readerProcess, dial, download } = require('./common')

const args = parseArgs(process.argv.slice(2), {
  key: ['BENCH_KEY', ''],
  port: ['BENCH_PORT', ''],
  blocks: ['BENCH_BLOCKS', ''],
  size: ['BENCH_BLOCK_SIZE', ''],
  dir: ['BENCH_DIR', ''],
  timeout: ['BENCH_TIMEOUT', '0']
})

if (!/^[0-9a-f]{64}$/i.test(args.key)) fail('--key must be the writer\'s 32-byte core key in hex')
const key = Buffer.from(args.key, 'hex')
const port = portNumber('--port', args.port)
if (port === 0) fail('--port must be the writer\'s port')
const blocks = positiveInt('--blocks', args.blocks)
const size = args.size === '' ? 0 : positiveInt('--size', args.size)
const timeout = Number(args.timeout)
if (!(timeout >= 0)) fail('--timeout must be a number of seconds >= 0')

const r = readerProcess('reader', timeout)

async function main () {
  r.dir = storageDir(args.dir, 'loam-bench-hc-reader-')
  const core = new Hypercore(r.dir.dir, key)
  await core.ready()

  const t0 = process.hrtime.bigint()
  const { socket, closed } = dial(port, (initiator) => core.replicate(initiator))
  await download(core, blocks, closed)
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9

  if (core.length < blocks) throw new Error('core length ' + core.length + ' < ' + blocks)
  let bytes = 0
  if (core.length === blocks) {
    bytes = (await core.info()).byteLength
  } else { // the writer's core is longer than what we asked for: count our range only
    for (let i = 0; i < blocks; i++) bytes += (await core.get(i, { wait: false })).byteLength
  }
  if (size && bytes !== blocks * size) {
    throw new Error('downloaded ' + bytes + ' bytes, expected ' + blocks * size)
  }

  emit({
    blocks,
    bytes,
    seconds,
    blocks_per_s: blocks / seconds,
    mb_per_s: bytes / 1e6 / seconds
  })

  socket.destroy()
  await core.close()
  r.dir.cleanup()
}

main().catch(r.crash)
