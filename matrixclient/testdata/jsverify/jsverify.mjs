// A matrix-js-sdk client with its Rust crypto, under Node, that verifies
// with mxcall by comparing emoji (SAS), for matrixclient's integration
// test (integration_jsverify_test.go). It speaks line-delimited JSON:
// on stdout {"ev":"ready","device":…}, {"ev":"request","id":…},
// {"ev":"emoji","emoji":[[emoji, name]…]}, {"ev":"mac"} (a to-device MAC
// of the other side's came in), {"ev":"confirmed"} (our MAC is sent),
// {"ev":"done"}, {"ev":"cancelled"},
// {"ev":"joined","id":room}, {"ev":"error","msg":…}; on stdin "go" (ask
// mode: start now), then "confirm" or "mismatch" after "emoji".
//
//   node jsverify.mjs HOMESERVER USER PASSWORD accept PEER_USER PEER_DEVICE
//   node jsverify.mjs HOMESERVER USER PASSWORD ask PEER_USER PEER_DEVICE
//   node jsverify.mjs HOMESERVER USER PASSWORD askdm PEER_USER PEER_DEVICE  (in the DM)
import * as sdk from "matrix-js-sdk";
import { CryptoEvent, VerificationPhase, VerificationRequestEvent, VerifierEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";
import readline from "node:readline";

const [hs, user, password, mode, peer, peerDevice] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
if (!process.env.JSVERIFY_DEBUG) logger.disableAll();

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

// runVerifier shows the emoji, answers as told, and returns once the
// verification is over and our answer is out (the verification can end
// before our confirm call returns, when the other side's MAC came first).
async function runVerifier(verifier) {
  let answered = Promise.resolve();
  verifier.on(VerifierEvent.ShowSas, (sas) => {
    answered = (async () => {
      out({ ev: "emoji", emoji: sas.sas.emoji });
      const answer = (await nextLine()).trim();
      if (answer === "confirm") {
        await sas.confirm();
        out({ ev: "confirmed" });
      } else sas.mismatch();
    })();
  });
  await verifier.verify();
  await answered;
}

async function main() {
  const login = await sdk.createClient({ baseUrl: hs }).loginRequest({
    type: "m.login.password", identifier: { type: "m.id.user", user }, password,
    initial_device_display_name: "jsverify",
  });
  const client = sdk.createClient({ baseUrl: hs, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id });
  await client.initRustCrypto({ useIndexedDB: false });
  const crypto = client.getCrypto();
  // The other side's MAC (its confirmation) has reached us: to-device, or
  // in the DM once decrypted.
  let macSeen = false;
  const checkMAC = (ev) => {
    if (!macSeen && ev.getType() === "m.key.verification.mac" && ev.getSender() !== login.user_id) {
      macSeen = true;
      out({ ev: "mac" });
    }
  };
  client.on(sdk.ClientEvent.ToDeviceEvent, checkMAC);
  client.on(sdk.RoomEvent.Timeline, (ev) => {
    if (ev.getType() === "m.room.encrypted") ev.once(sdk.MatrixEventEvent.Decrypted, checkMAC); // not decrypted yet
    else checkMAC(ev);
  });
  // Join every room we are invited to (the test's DM: device lists are
  // tracked, and verification possible, between users who share a room).
  let dmRoom;
  client.on(sdk.RoomMemberEvent.Membership, (_ev, member) => {
    if (member.userId === login.user_id && member.membership === "invite") {
      dmRoom = member.roomId;
      client.joinRoom(member.roomId).then(waitTracked).then(() => out({ ev: "joined", id: member.roomId }),
        (e) => out({ ev: "error", msg: String(e) }));
    }
  });
  // The Rust crypto only talks verification with users it tracks (who
  // share an encrypted room with us): wait until it knows the peer's device.
  const waitTracked = async () => {
    for (let i = 0; ; i++) {
      const devices = await crypto.getUserDeviceInfo([peer], false);
      if (devices.get(peer)?.has(peerDevice)) return;
      if (i === 300) throw new Error("peer device never tracked");
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const synced = new Promise((resolve) => client.once(sdk.ClientEvent.Sync, resolve));
  await client.startClient({ initialSyncLimit: 10 });
  await synced;
  out({ ev: "ready", device: login.device_id });

  let request;
  if (mode === "ask" || mode === "askdm") {
    await nextLine(); // "go": the DM is joined
    request = mode === "askdm" ? await crypto.requestVerificationDM(peer, dmRoom)
      : await crypto.requestDeviceVerification(peer, peerDevice);
    out({ ev: "request", id: request.transactionId });
    await new Promise((resolve, reject) => {
      const check = () => {
        if (request.phase === VerificationPhase.Ready) resolve();
        if (request.phase === VerificationPhase.Cancelled) reject(new Error("cancelled before ready"));
      };
      request.on(VerificationRequestEvent.Change, check);
      check();
    });
    await runVerifier(await request.startVerification("m.sas.v1"));
  } else {
    request = await new Promise((resolve) => client.on(CryptoEvent.VerificationRequestReceived, resolve));
    out({ ev: "request", id: request.transactionId });
    await request.accept();
    // mxcall asked, so it starts the emoji comparison.
    const verifier = await new Promise((resolve, reject) => {
      const check = () => {
        if (request.verifier) resolve(request.verifier);
        if (request.phase === VerificationPhase.Cancelled) reject(new Error("cancelled before start"));
      };
      request.on(VerificationRequestEvent.Change, check);
      check();
    });
    await runVerifier(verifier);
  }
  out({ ev: "done" });
  client.stopClient();
  process.exit(0);
}

main().catch((e) => {
  out({ ev: String(e).includes("ancel") || String(e).includes("mismatch") ? "cancelled" : "error", msg: String(e?.stack || e) });
  process.exit(0);
});
