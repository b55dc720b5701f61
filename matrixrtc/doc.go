// Package matrixrtc is mxcall's MatrixRTC (Element Call) client: group calls
// whose media goes through a LiveKit SFU chosen by the call's members.
//
// It owns:
//   - the membership events: the state-event form
//     org.matrix.msc3401.call.member (what Element Call sends by default) and
//     the sticky form org.matrix.msc4143.rtc.member, parsed strictly, built,
//     expired and sorted into a per-room Memberships snapshot;
//   - focus discovery: which LiveKit token service ("focus") to use;
//   - the legacy token exchange (POST {livekit_service_url}/sfu/get), which
//     trades an OpenID token from the homeserver for a LiveKit URL and JWT.
//
// It must not import Fyne, mautrix or any of mxcall's other packages
// (callengine, matrixclient, media, backend, ui): Matrix is reached through
// the small Matrix interface, which matrixclient implements, and HTTP through
// HTTPDoer, which tests satisfy with httptest servers.
package matrixrtc
