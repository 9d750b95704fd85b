// identify.mjs MULTIADDR: a js-libp2p node (TCP, Noise, Yamux) dials the
// Loam daemon at MULTIADDR (with /p2p/), pings it, runs identify, and
// prints one JSON object: {"agentVersion", "protocolVersion", "protocols",
// "rttMs"}. It exits 1 with a message on stderr if any step fails. Run by
// cmd/loam TestJSInterop; install with 'npm ci' in this directory.

// Node.js 20 lacks Promise.withResolvers (Node.js 22 has it), which
// js-libp2p 3 uses. It must exist before libp2p loads: libp2p is imported
// dynamically below, after this.
Promise.withResolvers ??= function () {
  let resolve, reject
  const promise = new this((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

const [{ createLibp2p }, { tcp }, { noise }, { yamux }, { identify }, { ping }, { multiaddr }] = await Promise.all([
  import('libp2p'), import('@libp2p/tcp'), import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'),
  import('@libp2p/identify'), import('@libp2p/ping'), import('@multiformats/multiaddr')
])

const target = process.argv[2]
if (target === undefined) {
  console.error('usage: node identify.mjs MULTIADDR (with /p2p/PEER)')
  process.exit(2)
}

const node = await createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), ping: ping() }
})
const timeout = AbortSignal.timeout(20_000)
try {
  const ma = multiaddr(target)
  const conn = await node.dial(ma, { signal: timeout })
  const rtt = await node.services.ping.ping(ma, { signal: timeout })
  const id = await node.services.identify.identify(conn, { signal: timeout })
  console.log(JSON.stringify({
    agentVersion: id.agentVersion,
    protocolVersion: id.protocolVersion,
    protocols: id.protocols,
    rttMs: rtt
  }))
} catch (err) {
  console.error(`identify ${target}: ${err.stack ?? err}`)
  process.exitCode = 1
} finally {
  await node.stop()
}
