// Cross-check driver for mxcall's media/framecrypt against livekit-client's
// own E2EE code. Nothing here reimplements the frame format: frames go
// through the real worker bundle (dist/livekit-client.e2ee.worker.mjs, i.e.
// FrameCryptor and ParticipantKeyHandler), booted in Node with a fake
// worker global (self, postMessage, onmessage), and keys are imported with
// the package's exported createKeyMaterialFromBuffer, as Element Call does.
//
//   node lkjs.mjs gen FILE   writes test vectors (livekit-client encrypts)
//   node lkjs.mjs run        reads a request from stdin, answers on stdout
//
// A request is {"cases": [case...]}; each case runs with a participant
// identity of its own, so no key state leaks between cases:
//   {"op": "decrypt", "key": b64, "key_index": n, "codec": "vp8"|"vp9"|"opus",
//    "data": b64, "sif_trailer": b64?}
//     -> {"plaintext": b64 | null}             (null: livekit-client dropped it)
//   or with "frames": [b64...] instead of "data": those frames in turn through
//   one receiver -> {"plaintexts": [b64 | null...]}
//   {"op": "encrypt", "key": b64, "key_index": n, "ratchets": n, "codec": …,
//    "keyframe": bool, "ssrc": n, "rtp_timestamp": n, "plaintext": b64}
//     -> {"ciphertext": b64 | null, "ratcheted_key": b64?}
// Every answer also carries "errors": the worker's error messages.

import { readFileSync, writeFileSync } from 'node:fs';
import { createKeyMaterialFromBuffer } from 'livekit-client';

const lkVersion = JSON.parse(
  readFileSync(new URL('./node_modules/livekit-client/package.json', import.meta.url), 'utf8'),
).version;
const debug = !!process.env.LKJS_DEBUG;

// ---- boot the worker bundle with a fake worker global ----

const listeners = new Set();
globalThis.self = globalThis;
globalThis.postMessage = (msg) => {
  if (debug && msg.kind === 'log') console.error('[worker]', msg.data.level, msg.data.msg);
  for (const l of [...listeners]) l(msg);
};
globalThis.onmessage = null;
// The cryptor names these in a log line (instanceof); browsers define them.
globalThis.RTCEncodedVideoFrame = class RTCEncodedVideoFrame {};
globalThis.RTCEncodedAudioFrame = class RTCEncodedAudioFrame {};
await import('livekit-client/e2ee-worker');

function send(kind, data) {
  globalThis.onmessage({ data: { kind, data } });
}

function waitFor(pred) {
  return new Promise((resolve) => {
    const l = (msg) => {
      if (pred(msg)) {
        listeners.delete(l);
        resolve(msg);
      }
    };
    listeners.add(l);
  });
}

// Element Call's MatrixKeyProvider options over livekit-client's defaults.
const keyProviderOptions = {
  sharedKey: false,
  ratchetSalt: 'LKFrameEncryptionKey',
  ratchetWindowSize: 10,
  failureTolerance: 10,
  keyringSize: 256,
  keySize: 128,
};
const initAck = waitFor((m) => m.kind === 'initAck');
send('init', { keyProviderOptions, loglevel: debug ? 'debug' : 'warn' });
await initAck;

// ---- fake encoded frames, shaped like RTCEncodedVideoFrame/AudioFrame ----

class VideoFrame extends globalThis.RTCEncodedVideoFrame {
  constructor(data, type, codec, ssrc, timestamp) {
    super();
    this.data = data;
    this.type = type; // receivers set it from the clear VP8 header, as the depacketiser does
    this.timestamp = timestamp;
    this.meta = { synchronizationSource: ssrc, rtpTimestamp: timestamp, payloadType: 96, mimeType: `video/${codec.toUpperCase()}` };
  }
  getMetadata() {
    return this.meta;
  }
}

class AudioFrame extends globalThis.RTCEncodedAudioFrame {
  constructor(data, ssrc, timestamp) {
    super();
    this.data = data;
    this.timestamp = timestamp;
    this.meta = { synchronizationSource: ssrc, rtpTimestamp: timestamp, payloadType: 111, mimeType: 'audio/opus' };
  }
  getMetadata() {
    return this.meta;
  }
}

function makeFrame(codec, bytes, ssrc = 0, timestamp = 0, keyframe) {
  const data = new Uint8Array(bytes).buffer;
  if (codec === 'opus') return new AudioFrame(data, ssrc, timestamp);
  if (keyframe === undefined) keyframe = bytes.length > 0 && (bytes[0] & 1) === 0;
  return new VideoFrame(data, keyframe ? 'key' : 'delta', codec, ssrc, timestamp);
}

// ---- one participant identity per case ----

let seq = 0;
let errors = [];
listeners.add((m) => {
  if (m.kind === 'error') errors.push(String(m.data.error?.message ?? m.data.error));
});

async function newParticipant(key, keyIndex) {
  const id = `p${++seq}`;
  const enabled = waitFor((m) => m.kind === 'enable' && m.data.participantIdentity === id);
  send('enable', { participantIdentity: id, enabled: true });
  await enabled;
  const material = await createKeyMaterialFromBuffer(new Uint8Array(key).buffer);
  send('setKey', { participantIdentity: id, isPublisher: true, key: material, keyIndex, updateCurrentKeyIndex: true });
  return id;
}

async function ratchet(id, keyIndex) {
  const done = waitFor((m) => m.kind === 'ratchetKey' && m.data.participantIdentity === id);
  send('ratchetRequest', { participantIdentity: id, keyIndex });
  const m = await done;
  return new Uint8Array(m.data.ratchetResult.chainKey);
}

// Runs one frame through a fresh FrameCryptor transform of participant id
// and returns the frame's bytes, or null when the cryptor dropped it.
async function transform(op, id, codec, frame) {
  let out = null;
  let finish;
  const finished = new Promise((r) => (finish = r));
  const readable = new ReadableStream({
    start(c) {
      c.enqueue(frame);
      c.close();
    },
  });
  const writable = new WritableStream({
    write(f) {
      out = new Uint8Array(f.data);
    },
    close: () => finish(),
    abort: () => finish(),
  });
  send(op, {
    participantIdentity: id,
    trackId: `${id}-t${++seq}`,
    readableStream: readable,
    writableStream: writable,
    codec: codec === 'opus' ? undefined : codec,
    hasPacketTrailer: false,
  });
  await finished;
  return out;
}

const b64 = (u8) => Buffer.from(u8).toString('base64');
const unb64 = (s) => new Uint8Array(Buffer.from(s ?? '', 'base64'));

async function lkEncrypt(c) {
  errors = [];
  const id = await newParticipant(unb64(c.key), c.key_index);
  let ratcheted;
  for (let i = 0; i < (c.ratchets ?? 0); i++) ratcheted = await ratchet(id, c.key_index);
  const out = await transform('encode', id, c.codec, makeFrame(c.codec, unb64(c.plaintext), c.ssrc, c.rtp_timestamp, c.keyframe));
  const res = { ciphertext: out && b64(out), errors };
  if (ratcheted) res.ratcheted_key = b64(ratcheted);
  return res;
}

async function lkDecrypt(c) {
  errors = [];
  const id = await newParticipant(unb64(c.key), c.key_index);
  if (c.sif_trailer) send('setSifTrailer', { trailer: unb64(c.sif_trailer) });
  const res = { errors };
  if (c.frames) {
    // Several frames in turn through one receiver (its key ring persists).
    res.plaintexts = [];
    for (const f of c.frames) {
      const out = await transform('decode', id, c.codec, makeFrame(c.codec, unb64(f)));
      res.plaintexts.push(out && b64(out));
    }
  } else {
    const out = await transform('decode', id, c.codec, makeFrame(c.codec, unb64(c.data)));
    res.plaintext = out && b64(out);
  }
  if (c.sif_trailer) send('setSifTrailer', { trailer: new Uint8Array(0) });
  return res;
}

async function run(req) {
  const results = [];
  for (const c of req.cases) {
    if (c.op === 'encrypt') results.push(await lkEncrypt(c));
    else if (c.op === 'decrypt') results.push(await lkDecrypt(c));
    else throw new Error(`unknown op ${c.op}`);
  }
  return { livekit_client: lkVersion, results };
}

// ---- vectors ----

// Deterministic bytes (mulberry32), so regenerated vectors keep their
// keys and plaintexts; only the IVs' random send counts change.
function bytes(seed, n) {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

function vp8Key(seed, n) {
  // Frame tag (key frame: bit 0 clear), start code 9d 01 2a, 640x360.
  const b = bytes(seed, n);
  b.set([0x50, 0x42, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
  return b;
}

function vp8Delta(seed, n) {
  const b = bytes(seed, n);
  b[0] = (b[0] | 1) & 0xf1; // bit 0 set: inter frame; show_frame set below
  b[0] |= 0x10;
  return b;
}

function opus(seed, n) {
  const b = bytes(seed, n);
  b[0] = 0x78; // TOC: config 15 (hybrid, fullband, 20 ms), mono, one frame
  return b;
}

const vp8Sif = [
  0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x08, 0x00, 0x08, 0x00, 0x00, 0x47, 0x08, 0x85, 0x85, 0x88,
  0x85, 0x84, 0x88, 0x02, 0x02, 0x00, 0x0c, 0x0d, 0x60, 0x00, 0xfe, 0xff, 0xab, 0x50, 0x80,
];

async function gen(file) {
  const plan = [
    { name: 'vp8-key', codec: 'vp8', keyframe: true, pt: vp8Key(1, 2400), key_index: 0 },
    { name: 'vp8-delta', codec: 'vp8', keyframe: false, pt: vp8Delta(2, 420), key_index: 0 },
    { name: 'vp8-delta-index-7', codec: 'vp8', keyframe: false, pt: vp8Delta(3, 300), key_index: 7 },
    { name: 'vp8-key-index-255', codec: 'vp8', keyframe: true, pt: vp8Key(4, 900), key_index: 255 },
    { name: 'vp8-delta-header-only', codec: 'vp8', keyframe: false, pt: vp8Delta(5, 3), key_index: 1 },
    { name: 'vp8-key-header-only', codec: 'vp8', keyframe: true, pt: vp8Key(6, 10), key_index: 1 },
    { name: 'opus', codec: 'opus', pt: opus(7, 120), key_index: 0 },
    { name: 'opus-toc-only', codec: 'opus', pt: opus(8, 1), key_index: 2 },
    { name: 'vp9', codec: 'vp9', keyframe: true, pt: bytes(9, 700), key_index: 3 },
    { name: 'vp8-key-32-byte-key', codec: 'vp8', keyframe: true, pt: vp8Key(10, 500), key_index: 4, keyLen: 32 },
    { name: 'vp8-key-ratchet-1', codec: 'vp8', keyframe: true, pt: vp8Key(11, 1200), key_index: 0, ratchets: 1 },
    { name: 'vp8-delta-ratchet-1', codec: 'vp8', keyframe: false, pt: vp8Delta(12, 400), key_index: 5, ratchets: 1 },
    { name: 'opus-ratchet-1', codec: 'opus', pt: opus(13, 90), key_index: 0, ratchets: 1 },
    { name: 'vp8-delta-ratchet-2', codec: 'vp8', keyframe: false, pt: vp8Delta(14, 400), key_index: 6, ratchets: 2 },
    { name: 'opus-ratchet-3', codec: 'opus', pt: opus(15, 90), key_index: 9, ratchets: 3 },
    { name: 'vp8-key-ratchet-10', codec: 'vp8', keyframe: true, pt: vp8Key(16, 600), key_index: 10, ratchets: 10 },
  ];
  const cases = [];
  let seed = 1000;
  for (const p of plan) {
    const key = bytes(seed++, p.keyLen ?? 16);
    const c = {
      name: p.name,
      codec: p.codec,
      keyframe: p.keyframe ?? false,
      key: b64(key),
      key_index: p.key_index,
      ratchets: p.ratchets ?? 0,
      ssrc: (0x1234abcd + seed) >>> 0,
      rtp_timestamp: (0xfffffff0 + seed * 3000) >>> 0,
      plaintext: b64(p.pt),
    };
    const enc = await lkEncrypt({ ...c });
    if (!enc.ciphertext) throw new Error(`${p.name}: livekit-client did not encrypt: ${enc.errors}`);
    c.ciphertext = enc.ciphertext;
    if (enc.ratcheted_key) c.ratcheted_key = enc.ratcheted_key;
    // Does a livekit-client receiver holding only the unratcheted key
    // decrypt it (auto-ratchet, ratchetWindowSize 10)?
    const dec = await lkDecrypt({ key: c.key, key_index: c.key_index, codec: c.codec, data: c.ciphertext });
    c.lkjs_decrypts = dec.plaintext === c.plaintext;
    cases.push(c);
  }

  // A server-injected frame: SIF payload + trailer, passed on in the clear.
  const trailer = bytes(77, 32);
  const sif = await lkDecrypt({ key: b64(bytes(78, 16)), key_index: 0, codec: 'vp8', data: b64([...vp8Sif, ...trailer]), sif_trailer: b64(trailer) });
  const special = [{ name: 'vp8-sif', codec: 'vp8', sif_trailer: b64(trailer), data: b64([...vp8Sif, ...trailer]), lkjs_output: sif.plaintext }];
  // Same trailer after a payload the server does not inject: dropped.
  const bogus = await lkDecrypt({ key: b64(bytes(78, 16)), key_index: 0, codec: 'vp8', data: b64([...vp8Key(79, 40), ...trailer]), sif_trailer: b64(trailer) });
  special.push({ name: 'vp8-sif-unknown-payload', codec: 'vp8', sif_trailer: b64(trailer), data: b64([...vp8Key(79, 40), ...trailer]), lkjs_output: bogus.plaintext });

  const doc = {
    generator: `node lkjs.mjs gen (livekit-client ${lkVersion}, dist/livekit-client.e2ee.worker.mjs, Node ${process.version})`,
    key_provider_options: keyProviderOptions,
    cases,
    special,
  };
  writeFileSync(file, JSON.stringify(doc, null, 1) + '\n');
}

// ---- main ----

const [cmd, arg] = process.argv.slice(2);
let out = '';
if (cmd === 'gen') {
  await gen(arg ?? '../vectors.json');
} else if (cmd === 'run') {
  out = JSON.stringify(await run(JSON.parse(readFileSync(0, 'utf8'))));
} else {
  console.error('usage: node lkjs.mjs gen FILE | run <request.json');
  process.exit(2);
}
// The worker leaves timers behind (undecrypted-track watchdog); end now.
process.stdout.write(out, () => process.exit(0));
