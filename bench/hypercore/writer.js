'use strict'

// writer.js: the source side of the Hypercore sync benchmark.
//
// Creates a Hypercore in a fresh storage dir, appends --blocks blocks of
// --size bytes (in appends of --batch blocks each; --batch 1 means one
// append per block), then listens on 127.0.0.1:--port and replicates the
// core to every peer that connects, until it is told to stop (SIGTERM,
// SIGINT, or stdin closing when --stdin-lifeline 1).
//
// Once it is listening it prints one JSON line on stdout:
//   {"key":"<hex>","port":<n>,"blocks":<n>,"bytes":<n>,"append_seconds":<s>}
// Diagnostics go to stderr.
//
// Flags (env fallback in brackets):
//   --blocks N        [BENCH_BLOCKS]      number of blocks (default 1000)
//   --size S          [BENCH_BLOCK_SIZE]  bytes per block (default 100)
//   --batch B         [BENCH_BATCH]       blocks per core.append call (default 1)
//   --port P          [BENCH_PORT]        TCP port on 127.0.0.1; 0 picks one (default 0)
//   --content C       [BENCH_CONTENT]     random | fixed (default random)
//   --dir D           [BENCH_DIR]         storage dir (must be empty/absent); default: fresh temp dir, removed on exit
//   --stdin-lifeline L                    1: exit when stdin reaches EOF (the Go harness uses this so a
//                                         dying parent never leaves a writer behind) (default 0)

const crypto = require('crypto')
const Hypercore = require('hypercore')
const { parseArgs, positiveInt, portNumber, storageDir, fail, writerProcess } = require('./common')

const args = parseArgs(process.argv.slice(2), {
  blocks: ['BENCH_BLOCKS', '1000'],
  size: ['BENCH_BLOCK_SIZE', '100'],
  batch: ['BENCH_BATCH', '1'],
  port: ['BENCH_PORT', '0'],
  content: ['BENCH_CONTENT', 'random'],
  dir: ['BENCH_DIR', ''],
  'stdin-lifeline': [null, '0']
})

const blocks = positiveInt('--blocks', args.blocks)
const size = positiveInt('--size', args.size)
const batch = Math.min(positiveInt('--batch', args.batch), blocks)
const port = portNumber('--port', args.port)
if (args.content !== 'random' && args.content !== 'fixed') fail('--content must be random or fixed')

// Installed before anything else: see writerProcess.
const w = writerProcess('writer', args['stdin-lifeline'])

async function main () {
  w.dir = storageDir(args.dir, 'loam-bench-hc-writer-')
  const core = w.store = new Hypercore(w.dir.dir)
  await core.ready()

  // Append. Not part of the measured sync time; reported for information.
  const fixed = args.content === 'fixed' ? Buffer.alloc(size * batch, 0x61) : null
  const t0 = process.hrtime.bigint()
  for (let done = 0; done < blocks;) {
    const n = Math.min(batch, blocks - done)
    const buf = fixed || crypto.randomBytes(size * n)
    if (n === 1) {
      await core.append(buf.subarray(0, size))
    } else {
      const arr = new Array(n)
      for (let i = 0; i < n; i++) arr[i] = buf.subarray(i * size, (i + 1) * size)
      await core.append(arr)
    }
    done += n
  }
  const appendSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  if (core.length !== blocks) throw new Error('appended ' + core.length + ' blocks, wanted ' + blocks)

  w.serve(port, (initiator) => core.replicate(initiator), (listening) => ({
    key: core.key.toString('hex'),
    port: listening,
    blocks,
    bytes: blocks * size,
    append_seconds: appendSeconds
  }))
}

main().catch(w.crash)
