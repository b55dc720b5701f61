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
//   - Session: one device in one room's call. Join discovers the focus,
//     sends our membership (multi_sfu, on our own focus), gets a token,
//     connects to LiveKit with server-sdk-go (one peer connection for both
//     directions, LiveKit's single PC mode; the connection is made while
//     the membership is being sent) and publishes the given pion tracks;
//     remote tracks come back through a callback with the publisher's
//     identity, and the remote participants (mutes, speakers) through
//     another. SetMuted signals our own mutes as LiveKit track mutes. The membership is refreshed before it expires and
//     left ({}) on every exit path; with delayed events (MSC4140, an
//     optional DelayedEvents of the Matrix) the leave is scheduled before
//     joining and pushed back while joined. A lost LiveKit connection (an
//     SFU restart) is retried for ReconnectTimeout, the membership kept;
//     a first connection whose media path times out is tried once more.
//     One goroutine owns a Session's state. Session.JoinRinging joins and
//     sends the DM ring (MSC4075) as soon as the membership is out;
//     Decline declines one (MSC4310).
//   - Tracker: fed with the MatrixRTC events of every joined room from
//     /sync, it keeps each room's live call memberships and the live
//     incoming rings, and reports rings, their end (timeout, caller left,
//     answered here or elsewhere, declined), declines of our rings and
//     membership changes. One goroutine owns its state.
//   - KeyManager: our per-participant media key for one call (RTC-NOTES §4):
//     made, sent Olm-encrypted to every other member's device
//     (io.element.call.encryption_keys), rotated as Element Call does (a new
//     key when someone leaves, or when someone joins after the key is 10 s
//     old; used 1 s after sending), and the keys others send us, accepted
//     only from the device Olm authenticated.
//
// Not yet here: the sticky-event form on send, /get_token and
// subscribe-only connections to other members' foci.
//
// It must not import Fyne, mautrix or any of mxcall's other packages
// (callengine, matrixclient, media, backend, ui): Matrix is reached through
// the small Matrix interface, which matrixclient implements, and HTTP through
// HTTPDoer, which tests satisfy with httptest servers.
package matrixrtc
