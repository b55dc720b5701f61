package callengine

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// rollbackAnswer builds the SDP answer that takes a PeerConnection from
// have-local-offer back to stable as if the peer had accepted offer (our
// pending local offer) unchanged. It stands in for
// SetLocalDescription({type: rollback}), which perfect negotiation's polite
// side needs when offers cross and which pion v4.2.26 refuses (its
// signalling state table has no have-local-offer → stable rollback).
//
// The answer mirrors offer's media sections (so pion accepts it) with the
// peer's side taken from the description we already have from it: ICE
// credentials, DTLS fingerprint and role, its origin. Directions are
// reversed, and our SSRCs, msids and candidates are left out so nothing of
// ours is mistaken for the peer's. Applying it changes nothing that the
// peer's real offer, applied next, does not set again.
//
// Written by hand because no maintained Go library offers a rollback for
// pion; the only dependency is pion's own SDP package.
func rollbackAnswer(offer, remote, local string) (string, error) {
	var o, r, l sdp.SessionDescription
	if err := o.UnmarshalString(offer); err != nil {
		return "", fmt.Errorf("pending offer: %w", err)
	}
	if err := r.UnmarshalString(remote); err != nil {
		return "", fmt.Errorf("remote description: %w", err)
	}
	if err := l.UnmarshalString(local); err != nil {
		return "", fmt.Errorf("local description: %w", err)
	}
	peer := map[string]string{
		"ice-ufrag":   sdpValue(&r, "ice-ufrag"),
		"ice-pwd":     sdpValue(&r, "ice-pwd"),
		"fingerprint": sdpValue(&r, "fingerprint"),
		"setup":       peerSetup(sdpValue(&r, "setup"), sdpValue(&l, "setup")),
	}
	for k, v := range peer {
		if v == "" {
			return "", fmt.Errorf("%w: remote description has no %s", ErrMalformedEvent, k)
		}
	}
	o.Origin = r.Origin
	o.Attributes = mirrorAttributes(o.Attributes, peer)
	for _, m := range o.MediaDescriptions {
		m.Attributes = mirrorAttributes(m.Attributes, peer)
	}
	out, err := o.Marshal()
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// sdpValue returns the first value of attribute key at session level or
// else in any media section.
func sdpValue(d *sdp.SessionDescription, key string) string {
	if v, ok := d.Attribute(key); ok {
		return v
	}
	for _, m := range d.MediaDescriptions {
		if v, ok := m.Attribute(key); ok {
			return v
		}
	}
	return ""
}

// peerSetup is the peer's DTLS role for an answer: what it said, unless it
// offered actpass, in which case it took the opposite of our answer.
func peerSetup(remote, local string) string {
	switch {
	case remote == "active" || remote == "passive":
		return remote
	case local == "active":
		return "passive"
	default:
		return "active"
	}
}

var reversedDirection = map[string]string{
	"sendonly": "recvonly",
	"recvonly": "sendonly",
	"sendrecv": "sendrecv",
	"inactive": "inactive",
}

func mirrorAttributes(attrs []sdp.Attribute, peer map[string]string) []sdp.Attribute {
	out := attrs[:0]
	seen := map[string]bool{}
	for _, a := range attrs {
		if d, ok := reversedDirection[a.Key]; ok {
			out = append(out, sdp.NewPropertyAttribute(d))
			continue
		}
		if v, ok := peer[a.Key]; ok {
			if !seen[a.Key] { // one fingerprint is enough
				seen[a.Key] = true
				out = append(out, sdp.NewAttribute(a.Key, v))
			}
			continue
		}
		switch a.Key {
		case "ssrc", "ssrc-group", "msid", "msid-semantic", "candidate", "end-of-candidates":
			continue
		}
		out = append(out, a)
	}
	return out
}
