// The compatibility scenario with kafkajs (pure JavaScript).
//
// Same steps and output lines as every other program in tests/compat (see README.md there):
//   CLIENT <name> <version> <engine>
//   STEP <n> <name> PASS|FAIL|SKIP <detail>
// Usage: node kafkajs_compat.js --bootstrap HOST:PORT --topic BASE
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, Partitioners, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('@2l/kafkajs-lz4')
const zstd = require('zstd-napi')

// kafkajs ships only gzip; the other codecs are plug-ins. zstd has no maintained plug-in that
// builds on Node 20, so this adapts zstd-napi to kafkajs' two-function codec interface.
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: async (encoder) => zstd.compress(encoder.buffer),
  decompress: async (buffer) => zstd.decompress(buffer)
})

const MESSAGES = 1000
const KEYS = 50
const FIRST_HALF = 500
const PARTITIONS = 3
const FEATURE_BATCH = 10
// Explicit CreateTime far from "now", so a broker that stamps its own clock is caught.
const BASE_TIMESTAMP_MS = 1600000000000
const PHASE_TIMEOUT_MS = 30000
const STEPS = ['create-topic', 'produce-1000', 'consume-500-commit', 'resume-committed',
  'key-partition-order', 'gzip', 'snappy', 'lz4', 'zstd', 'idempotent', 'headers', 'timestamps']
const CODECS = {
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}
const FEATURES = ['gzip', 'snappy', 'lz4', 'zstd', 'idempotent', 'headers', 'timestamps']

let failed = false

function report (name, ok, detail) {
  failed = failed || !ok
  console.log(`STEP ${STEPS.indexOf(name) + 1} ${name} ${ok ? 'PASS' : 'FAIL'} ${detail}`)
}

// Runs one step; a client exception becomes that step's FAIL line.
async function step (name, body) {
  try {
    const [ok, detail] = await body()
    report(name, ok, detail)
  } catch (e) {
    console.error(e)
    report(name, false, `${e.name}: ${e.message}`)
  }
}

function parseArgs () {
  const opts = {}
  const argv = process.argv.slice(2)
  for (let i = 0; i + 1 < argv.length; i += 2) opts[argv[i]] = argv[i + 1]
  if (!opts['--bootstrap'] || !opts['--topic']) {
    console.error('usage: kafkajs_compat.js --bootstrap HOST:PORT --topic BASE')
    process.exit(2)
  }
  return { bootstrap: opts['--bootstrap'], topic: opts['--topic'] }
}

function withTimeout (promise, what) {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${PHASE_TIMEOUT_MS} ms`)),
      PHASE_TIMEOUT_MS)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Sends with acks=all; `feature` is a codec name, 'idempotent' or undefined.
async function produce (kafka, topic, messages, feature) {
  const idempotent = feature === 'idempotent'
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner, // murmur2, as the Java client
    ...(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {})
  })
  await producer.connect()
  try {
    await withTimeout(producer.send({
      topic,
      acks: -1,
      compression: CODECS[feature] ?? CompressionTypes.None,
      messages
    }), 'produce')
  } finally {
    await producer.disconnect()
  }
}

function toRecord (partition, m) {
  const headers = []
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) headers.push([k, Buffer.from(one ?? '')])
  }
  return {
    partition,
    offset: Number(m.offset),
    key: m.key ? m.key.toString() : '',
    value: m.value ? m.value.toString() : '',
    headers,
    timestamp: Number(m.timestamp)
  }
}

// Joins `groupId`, consumes `want` records, commits exactly those when `commit`, disconnects.
async function consumeGroup (kafka, topic, groupId, want, commit) {
  const consumer = kafka.consumer({ groupId })
  const records = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let done
    const enough = new Promise((resolve) => { done = resolve })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        // Records fetched after the wanted count are neither counted nor committed.
        if (records.length < want) records.push(toRecord(partition, message))
        if (records.length === want) done()
      }
    })
    await withTimeout(enough, `consuming ${want}`).catch((e) => console.error(e.message))
    const offsets = nextOffsets(records)
    if (commit && offsets.size > 0) {
      await consumer.commitOffsets([...offsets].map(([partition, offset]) =>
        ({ topic, partition, offset: String(offset) })))
    }
    return records
  } finally {
    await consumer.disconnect()
  }
}

function nextOffsets (records) {
  const out = new Map()
  for (const r of records) {
    out.set(r.partition, Math.max(out.get(r.partition) ?? 0, r.offset + 1))
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]))
}

const fmt = (map) => JSON.stringify(Object.fromEntries(map))

function checkResume (first, second) {
  const committed = nextOffsets(first)
  const starts = new Map()
  for (const r of second) if (!starts.has(r.partition)) starts.set(r.partition, r.offset)
  for (const [p, start] of starts) {
    if (start !== (committed.get(p) ?? 0)) {
      return [false, `partition ${p} resumed at ${start}, committed ${committed.get(p) ?? 0}`]
    }
  }
  const seenFirst = new Set(first.map((r) => r.value))
  const again = second.filter((r) => seenFirst.has(r.value))
  if (again.length > 0) {
    return [false, `${again.length} first-half records delivered again, e.g. ${again[0].value}`]
  }
  const union = new Set([...seenFirst, ...second.map((r) => r.value)])
  if (union.size !== MESSAGES) {
    return [false, `${MESSAGES - union.size} of ${MESSAGES} never consumed`]
  }
  return [true, `resumed at ${fmt(new Map([...starts].sort()))}; all ${MESSAGES} seen once`]
}

// Step 5; needs all messages, since a check over fewer would pass on what it never saw.
function checkKeyOrder (records) {
  if (records.length < MESSAGES) {
    return [false, `only ${records.length} of ${MESSAGES} records consumed; nothing to check`]
  }
  const partitions = new Map()
  const seqs = new Map()
  for (const r of records) {
    const [key, seq] = r.value.split(':')
    if (key !== r.key) return [false, `key ${r.key} carries value ${r.value}`]
    if (!partitions.has(key)) partitions.set(key, new Set())
    partitions.get(key).add(r.partition)
    if (!seqs.has(key)) seqs.set(key, [])
    seqs.get(key).push(Number(seq))
  }
  for (const [key, ps] of partitions) {
    if (ps.size > 1) return [false, `key ${key} on partitions ${[...ps]}`]
  }
  for (const [key, got] of seqs) {
    if (got.some((s, i) => i > 0 && s < got[i - 1])) {
      return [false, `key ${key} out of order: ${got}`]
    }
  }
  const used = [...new Set([...partitions.values()].flatMap((s) => [...s]))].sort()
  return [true, `${partitions.size} keys, each on one partition (partitions used: [${used}])`]
}

const featureValue = (tag, i) => `${tag}:${i}:` + 'x'.repeat(200)
const featureHeaders = (i) => [['trace', `t${i}`], ['dup', 'a'], ['dup', 'b'], ['empty', '']]

function featureMessages (tag) {
  const out = []
  for (let i = 0; i < FEATURE_BATCH; i++) {
    const m = { key: 'f', value: featureValue(tag, i) }
    if (tag === 'headers') m.headers = { trace: `t${i}`, dup: ['a', 'b'], empty: '' }
    if (tag === 'timestamps') m.timestamp = String(BASE_TIMESTAMP_MS + i)
    out.push(m)
  }
  return out
}

function checkFeature (tag, got) {
  const want = Array.from({ length: FEATURE_BATCH }, (_, i) => featureValue(tag, i))
  if (JSON.stringify(got.map((r) => r.value)) !== JSON.stringify(want)) {
    return [false, `consumed ${got.length} of ${FEATURE_BATCH} or out of order`]
  }
  for (const [i, r] of got.entries()) {
    const text = JSON.stringify(r.headers.map(([k, v]) => [k, v.toString()]))
    if (tag === 'headers' && text !== JSON.stringify(featureHeaders(i))) {
      return [false, `headers differ: got ${text}`]
    }
    if (tag === 'timestamps' && r.timestamp !== BASE_TIMESTAMP_MS + i) {
      return [false, `timestamp ${r.timestamp}, sent ${BASE_TIMESTAMP_MS + i}`]
    }
  }
  return [true, `${FEATURE_BATCH} records round-tripped`]
}

async function main () {
  const { bootstrap, topic } = parseArgs()
  const features = `${topic}-features`
  const group = `${topic}-group`
  const version = require('kafkajs/package.json').version
  console.log(`CLIENT kafkajs ${version} node-${process.versions.node}`)
  const kafka = new Kafka({
    clientId: 'strom-compat',
    brokers: [bootstrap],
    logLevel: logLevel.WARN
  })

  await step('create-topic', async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const created = await admin.createTopics({
        waitForLeaders: true,
        topics: [
          { topic, numPartitions: PARTITIONS, replicationFactor: 1 },
          { topic: features, numPartitions: 1, replicationFactor: 1 }
        ]
      })
      if (!created) return [false, `${topic} already existed`]
      const meta = await admin.fetchTopicMetadata({ topics: [topic] })
      const n = meta.topics[0].partitions.length
      return [n === PARTITIONS, `${topic} has ${n} partitions`]
    } finally {
      await admin.disconnect()
    }
  })

  const messages = Array.from({ length: MESSAGES }, (_, i) => {
    const key = `k${i % KEYS}`
    return { key, value: `${key}:${Math.floor(i / KEYS)}` }
  })
  await step('produce-1000', async () => {
    await produce(kafka, topic, messages)
    return [true, `${MESSAGES} acknowledged (acks=all)`]
  })

  // Steps 6-12 before the group steps, so a group problem cannot hide them (kafkajs reads
  // them back through a group of its own, though). Every feature batch goes to the features
  // topic, all are read back in one pass, and the lines are printed in step order.
  const produceError = {}
  let sent = 0
  for (const tag of FEATURES) {
    try {
      await produce(kafka, features, featureMessages(tag), tag)
      sent++
    } catch (e) {
      console.error(e)
      produceError[tag] = `produce failed: ${e.name}: ${e.message}`
    }
  }
  let records = []
  let consumeError
  try {
    if (sent > 0) {
      records = await consumeGroup(kafka, features, `${features}-reader`, FEATURE_BATCH * sent,
        false)
    }
  } catch (e) {
    console.error(e)
    consumeError = `consuming the batches failed: ${e.message}`
  }
  for (const tag of FEATURES) {
    const error = produceError[tag] ?? consumeError
    if (error) {
      report(tag, false, error)
    } else {
      report(tag, ...checkFeature(tag, records.filter((r) => r.value.startsWith(`${tag}:`))))
    }
  }

  let first = []
  let second = []
  await step('consume-500-commit', async () => {
    first = await consumeGroup(kafka, topic, group, FIRST_HALF, true)
    if (first.length !== FIRST_HALF) return [false, `consumed ${first.length} of ${FIRST_HALF}`]
    return [true, `consumed ${FIRST_HALF}, committed ${fmt(nextOffsets(first))}`]
  })
  await step('resume-committed', async () => {
    second = await consumeGroup(kafka, topic, group, MESSAGES - first.length, true)
    return checkResume(first, second)
  })
  await step('key-partition-order', async () => checkKeyOrder([...first, ...second]))
  process.exit(failed ? 1 : 0)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
