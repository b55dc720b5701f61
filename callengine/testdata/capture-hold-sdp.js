// capture-hold-sdp.js records the SDP that Chromium produces when a call is
// put on hold and resumed the way matrix-js-sdk (Element) does it
// (MatrixCall.setRemoteOnHold: every transceiver's direction becomes
// "sendonly", or "sendrecv" again to resume, and the local tracks are
// disabled), and writes it to chromium-hold/ beside this script. The Go
// tests only read those files; they never start Chromium.
//
// How it was run (Debian 12, apt package chromium 156, playwright-core
// 1.65.1 from npm, installed outside the repository):
//
//   apt-get install chromium
//   (cd /tmp/pw && npm install playwright-core@1.65.1)
//   NODE_PATH=/tmp/pw/node_modules ./scripts/netns.sh node callengine/testdata/capture-hold-sdp.js
//
// Two RTCPeerConnections in one headless page, A and B, each with fake
// camera and microphone (audio and video transceivers), connected over
// loopback. A plays Element; B stands where mxcall stands in the Go tests,
// which use A's offers and A's answers. Steps (each one offer and its
// answer; "holds" is js-sdk's setRemoteOnHold(true)):
//
//   1-call                 A calls B
//   2-a-holds              A holds B: A offers sendonly, B answers recvonly
//   3-a-resumes            A resumes: sendrecv again
//   4-b-holds              B holds A: B offers sendonly, A answers recvonly
//   5-both-hold            A holds B too: A offers sendonly, B answers inactive
//   6-b-resumes-a-holds    B resumes while A holds it: A answers sendonly
//   7-b-holds-inactive     B holds A again, its offer turned inactive on the
//                          way as RFC 3264 §8.4 (and mxcall) has it: A answers
//                          inactive
//   8-a-resumes-b-holds    A resumes while B holds it: B answers sendonly
//   9-b-resumes            B resumes: sendrecv both ways
//
// Files: <step>-offer.sdp and <step>-answer.sdp (exactly what
// localDescription.sdp held after setLocalDescription), and summary.json
// with each transceiver's direction and currentDirection on both sides after
// each step (js-sdk's isLocalOnHold() is "every currentDirection is inactive
// or recvonly").
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const outDir = path.join(__dirname, "chromium-hold");

// The page runs in the browser (stringified by page.evaluate).
async function inPage() {
  const a = new RTCPeerConnection({ iceServers: [] });
  const b = new RTCPeerConnection({ iceServers: [] });
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate).catch(() => {});
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate).catch(() => {});
  const media = () => navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const sa = await media();
  const sb = await media();
  for (const t of sa.getTracks()) a.addTrack(t, sa);
  for (const t of sb.getTracks()) b.addTrack(t, sb);

  const files = {};
  const summary = [];
  const dirs = (pc) =>
    pc.getTransceivers().map((t) => ({
      mid: t.mid,
      kind: t.receiver.track.kind,
      direction: t.direction,
      currentDirection: t.currentDirection,
    }));
  const isLocalOnHold = (pc) =>
    pc.getTransceivers().every((t) => ["inactive", "recvonly"].includes(t.currentDirection));

  async function exchange(step, from, to, munge = (sdp) => sdp) {
    await from.setLocalDescription(await from.createOffer());
    const offer = munge(from.localDescription.sdp);
    files[step + "-offer.sdp"] = offer;
    await to.setRemoteDescription({ type: "offer", sdp: offer });
    await to.setLocalDescription(await to.createAnswer());
    files[step + "-answer.sdp"] = to.localDescription.sdp;
    await from.setRemoteDescription(to.localDescription);
    summary.push({
      step,
      offerer: from === a ? "A" : "B",
      A: { transceivers: dirs(a), isLocalOnHold: isLocalOnHold(a) },
      B: { transceivers: dirs(b), isLocalOnHold: isLocalOnHold(b) },
    });
  }
  // As js-sdk's MatrixCall.setRemoteOnHold and updateMuteStatus.
  function hold(pc, stream, on) {
    for (const t of pc.getTransceivers()) t.direction = on ? "sendonly" : "sendrecv";
    for (const t of stream.getTracks()) t.enabled = !on;
  }
  const inactive = (sdp) => sdp.replace(/^a=sendonly\r$/gm, "a=inactive\r");

  await exchange("1-call", a, b);
  for (let i = 0; i < 100 && a.connectionState !== "connected"; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (a.connectionState !== "connected") throw new Error("A is " + a.connectionState);

  hold(a, sa, true);
  await exchange("2-a-holds", a, b);
  hold(a, sa, false);
  await exchange("3-a-resumes", a, b);
  hold(b, sb, true);
  await exchange("4-b-holds", b, a);
  hold(a, sa, true);
  await exchange("5-both-hold", a, b);
  hold(b, sb, false);
  await exchange("6-b-resumes-a-holds", b, a);
  hold(b, sb, true);
  await exchange("7-b-holds-inactive", b, a, inactive);
  hold(a, sa, false);
  await exchange("8-a-resumes-b-holds", a, b);
  hold(b, sb, false);
  await exchange("9-b-resumes", b, a);

  a.close();
  b.close();
  return { files, summary, userAgent: navigator.userAgent };
}

async function main() {
  // getUserMedia needs a secure context: serve an empty page on loopback.
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end("<!doctype html><title>hold</title>");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const userDataDir = fs.mkdtempSync("/tmp/capture-hold-sdp-");
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--allow-loopback-in-peer-connection",
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
    ],
  });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    await page.goto(url);
    const got = await page.evaluate(inPage);
    fs.mkdirSync(outDir, { recursive: true });
    for (const [name, sdp] of Object.entries(got.files)) {
      fs.writeFileSync(path.join(outDir, name), sdp);
    }
    const summary = { userAgent: got.userAgent, steps: got.summary };
    fs.writeFileSync(path.join(outDir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
    console.log(`wrote ${Object.keys(got.files).length} SDP files to ${outDir} (${got.userAgent})`);
  } finally {
    await ctx.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
