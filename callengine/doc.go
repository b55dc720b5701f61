// Package callengine runs Matrix VoIP v1 (MSC2746) one-to-one calls.
//
// It owns the call state machine and the pion PeerConnection of each call,
// and bridges Matrix call events (m.call.*) to WebRTC. It must not import
// Fyne, mautrix or any capture/decoding code: signalling reaches it through
// the Signaller interface and Engine.HandleEvents, local media arrives as
// pion TrackLocals and remote media leaves as pion TrackRemotes.
//
// Each Call is owned by one goroutine; every other goroutine (pion
// callbacks, timers, the Engine's public methods) sends it messages.
//
// A call is connected once ICE is connected and DTLS is done, so media can
// flow. Renegotiation (m.call.negotiate) follows perfect negotiation with
// the callee as the polite side; pion cannot roll back a local offer, so
// the polite side's rollback is emulated (see rollbackAnswer). Hold follows
// RFC 3264 §8.4 as Element does: sendonly offer, recvonly answer (see
// hold.go). A call ends with ice_failed when ICE fails after one restart or
// when the peer closed its connection and no hangup followed within a few
// seconds, and with ice_timeout after a long disconnection.
package callengine
