// Package matrixclient is mxcall's Matrix side: login (with .well-known
// discovery), the session kept only in the OS keyring, the sync loop with
// reconnect, the room list model (joined rooms, DMs, invites), TURN
// credentials from the homeserver, and the transport of m.call.* events.
//
// It implements callengine.Signaller for outgoing call events and hands
// incoming ones, one whole sync batch at a time, to a CallHandler (the
// callengine.Engine). It may import callengine for its event types; it must
// not import ui, media or Fyne.
//
// End-to-end encryption (mautrix crypto in pure Go, a pure-Go SQLite store
// under WithDataDir, its pickle key in the keyring next to the session) is
// compiled in with the `goolm` build tag (E2EEAvailable). Without it,
// encrypted rooms are listed but nothing is ever sent into them. Call
// events are decrypted before they reach the CallHandler; events whose
// room key arrives late are handed on when it arrives (with their original
// receive time, so the engine's liveness check stays right); events that
// cannot be decrypted are listed by Undecryptable. Room keys of encrypted
// one-to-one rooms are shared in the background ahead of the first call,
// so its invite and answer do not wait for key delivery.
//
// The sync uses a filter that leaves out presence, typing, receipts and
// per-room account data: a calling app needs none of them, and they would
// wake the long-poll.
//
// Secrets: the access token and TURN passwords never appear in logs, in
// String/LogValue output or in any file; the session lives only in the
// keyring (or only in memory when no keyring is available).
package matrixclient
