'use strict'

// manyreader.js: the sink side of the many-authors Hypercore benchmark.
//
// Opens an empty Corestore in a fresh storage dir, loads one core per key
// in --keys (written by manywriter.js), dials 127.0.0.1:--port and
// replicates the Corestore over that one connection (one Noise stream,
// one Protomux channel per core), downloading blocks 0..--per-1 of every
// core. The clock runs from just before the TCP connect until every block
// of every core is verified and stored locally (each core's
// download({start: 0, end: per}).done() resolved and its contiguousLength
// === per). Opening the store and loading the cores are outside it.
//
// Prints one JSON line on stdout:
//   {"cores":N,"blocks":N*P,"bytes":B,"seconds":s,"blocks_per_s":x,"mb_per_s":y,"cpu_seconds":c}
// where cpu_seconds is this process's CPU (user+system) during seconds.
//
// Flags (env fallback in brackets):
//   --keys F       [BENCH_KEYS]       file of the writer's core keys, one hex key a line (required)
//   --port P       [BENCH_PORT]       the writer's port on 127.0.0.1 (required)
//   --per P        [BENCH_PER]        blocks to download from each core (required)
//   --size S       [BENCH_BLOCK_SIZE] expected bytes per block; if given, total bytes are checked
//   --dir D        [BENCH_DIR]        storage dir (must be empty/absent); default: fresh temp dir, removed on exit
//   --timeout T    [BENCH_TIMEOUT]    give up after T seconds (default 0 = never)

const fs = require('fs')
const Corestore = require('corestore')
const { parseArgs, positiveInt, portNumber, storageDir, emit, fail, readerProcess, dial, download } = require('./common')

const args = parseArgs(process.argv.slice(2), {
  keys: ['BENCH_KEYS', ''],
  port: ['BENCH_PORT', ''],
  per: ['BENCH_PER', ''],
  size: ['BENCH_BLOCK_SIZE', ''],
  dir: ['BENCH_DIR', ''],
  timeout: ['BENCH_TIMEOUT', '0']
})

if (!args.keys) fail('--keys: the writer\'s keys file is required')
const keys = fs.readFileSync(args.keys, 'utf8').split('\n').filter(Boolean)
for (const k of keys) if (!/^[0-9a-f]{64}$/i.test(k)) fail('--keys: not a 32-byte hex key: ' + JSON.stringify(k))
if (keys.length === 0) fail('--keys: no keys')
const port = portNumber('--port', args.port)
if (port === 0) fail('--port must be the writer\'s port')
const per = positiveInt('--per', args.per)
const size = args.size === '' ? 0 : positiveInt('--size', args.size)
const timeout = Number(args.timeout)
if (!(timeout >= 0)) fail('--timeout must be a number of seconds >= 0')

const r = readerProcess('manyreader', timeout)

async function main () {
  r.dir = storageDir(args.dir, 'loam-bench-hc-manyreader-')
  const store = new Corestore(r.dir.dir)
  const cores = keys.map(k => store.get({ key: Buffer.from(k, 'hex') }))
  await Promise.all(cores.map(c => c.ready()))

  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const { socket, closed } = dial(port, (initiator) => store.replicate(initiator))
  await Promise.all(cores.map(c => download(c, per, closed)))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)

  let bytes = 0
  for (const c of cores) {
    if (c.length !== per) throw new Error('core length ' + c.length + ', want ' + per)
    bytes += (await c.info()).byteLength
  }
  const blocks = cores.length * per
  if (size && bytes !== blocks * size) {
    throw new Error('downloaded ' + bytes + ' bytes, expected ' + blocks * size)
  }

  emit({
    cores: cores.length,
    blocks,
    bytes,
    seconds,
    blocks_per_s: blocks / seconds,
    mb_per_s: bytes / 1e6 / seconds,
    cpu_seconds: (cpu.user + cpu.system) / 1e6
  })

  socket.destroy()
  await store.close()
  r.dir.cleanup()
}

main().catch(r.crash)
