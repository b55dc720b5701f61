// Package rtcauth is a MatrixRTC authorisation service for LiveKit SFUs: the
// HTTP API that Element Call and other MatrixRTC clients call at a
// transport's livekit_service_url to get a LiveKit access token (MSC4195,
// the API of Element's "lk-jwt-service", implemented from its description,
// not its code).
//
// Endpoints (all answer CORS requests from any origin):
//
//	POST /sfu/get     {"room","openid_token","device_id"}              legacy form
//	POST /get_token   {"room_id","slot_id","openid_token","member"}  MSC4195 form
//	GET  /healthz     200 with an empty body
//
// Both POST endpoints answer {"url": <LiveKit WebSocket URL>, "jwt": <token>}.
// The caller proves who it is with an OpenID token from its homeserver; the
// service checks it with that homeserver's federation endpoint
// /_matrix/federation/v1/openid/userinfo. Only homeservers on the allow-list
// (or every one, with "*") are asked.
//
// LiveKit names: the room is the unpadded base64 of SHA-256 over the canonical
// JSON array [room_id, slot_id] (slot "m.call#ROOM" on /sfu/get). The
// participant identity is "@user:server:DEVICE" on /sfu/get, and on
// /get_token the unpadded base64 of SHA-256 over [user_id, device_id,
// member.id], which is what matrix-js-sdk's computeRtcIdentityRaw expects.
//
// Errors are Matrix-style {"errcode","error"} bodies: 400 M_NOT_JSON (not
// JSON, unknown fields, trailing data), 400 M_BAD_JSON (missing or invalid
// fields), 401 M_UNAUTHORIZED (the OpenID token was not accepted, the
// homeserver is not allowed, or the claimed user is not the token's user),
// 405 M_UNRECOGNIZED (wrong method), 404 M_UNRECOGNIZED (unknown path),
// 413 M_TOO_LARGE (body over 64 KiB) and 500 M_UNKNOWN (minting failed).
//
// The package imports nothing of mxcall's; cmd/mxcall-rtc-auth wraps it in a
// command.
package rtcauth
