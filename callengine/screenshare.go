package callengine

import (
	"fmt"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Screen sharing follows matrix-js-sdk (pushLocalFeed / removeLocalFeed
// with purpose m.screenshare): the share is a second video track in a
// stream of its own, listed in sdp_stream_metadata with purpose
// m.screenshare. Starting adds its sender and stopping removes it
// (RemoveTrack: the transceiver turns recvonly and loses its msid, and the
// metadata no longer lists the stream); pion then fires negotiationneeded
// and onNegotiationNeeded sends the m.call.negotiate offer, with the glare
// rules of any renegotiation. A share started again reuses a transceiver
// pion allows (one whose sending ended in an earlier negotiation), as the
// js-sdk reuses its transceivers, so the SDP does not grow with each share.

// startScreenshare adds t as our screen share.
func (c *Call) startScreenshare(t webrtc.TrackLocal) error {
	if err := c.connected(); err != nil {
		return err
	}
	if c.screen != nil {
		return fmt.Errorf("%w: already sharing a screen", ErrWrongState)
	}
	if sid := t.StreamID(); sid == "" || sid == c.userMediaStream() {
		return fmt.Errorf("%w: a screen share needs a stream ID of its own, got %q", ErrInvalidArgument, sid)
	}
	s, err := c.pc.AddTrack(c.gated(t))
	if err != nil {
		return fmt.Errorf("callengine: adding screen share: %w", err)
	}
	c.senders[screenVideo] = s
	c.screen = t
	c.ci.Screensharing = true
	c.publish()
	return nil // negotiationneeded follows
}

// stopScreenshare removes our screen share; without one it does nothing.
func (c *Call) stopScreenshare() error {
	if c.st == StateEnded || c.pc == nil {
		return fmt.Errorf("%w: %s", ErrWrongState, c.st)
	}
	if c.screen == nil {
		return nil
	}
	s := c.senders[screenVideo]
	delete(c.senders, screenVideo)
	c.screen = nil
	c.ci.Screensharing = false
	c.publish()
	if s == nil {
		return nil
	}
	if err := c.pc.RemoveTrack(s); err != nil {
		return fmt.Errorf("callengine: removing screen share: %w", err)
	}
	return nil // negotiationneeded follows
}

// userMediaStream is the stream ID of our camera and microphone ("" when
// we send neither).
func (c *Call) userMediaStream() string {
	for _, t := range []webrtc.TrackLocal{c.media.Audio, c.media.Video} {
		if t != nil {
			return t.StreamID()
		}
	}
	return ""
}

// noteRemoteStreams records which streams the peer's description sdp
// carries (its a=msid lines) and updates RemoteScreenshare.
func (c *Call) noteRemoteStreams(sdp string) {
	c.remoteStreams = msidStreams(sdp)
	c.updateRemoteScreenshare()
}

// updateRemoteScreenshare sets RemoteScreenshare from the peer's latest
// metadata and description (see CallInfo.RemoteScreenshare). A
// description without any msid (some peers send none) does not count
// against the metadata.
func (c *Call) updateRemoteScreenshare() {
	on := false
	for id, m := range c.remoteMeta {
		if m.Purpose == PurposeScreenshare && (len(c.remoteStreams) == 0 || c.remoteStreams[id]) {
			on = true
			break
		}
	}
	c.ci.RemoteScreenshare = on
}

// msidStreams returns the stream IDs named by the a=msid lines of the
// audio/video sections of sdp ("-", no stream, is left out).
func msidStreams(sdp string) map[string]bool {
	streams := map[string]bool{}
	for _, raw := range sdpLines(sdp) {
		v, ok := strings.CutPrefix(sdpAttr(raw), "a=msid:")
		if !ok {
			continue
		}
		if id, _, _ := strings.Cut(v, " "); id != "" && id != "-" {
			streams[id] = true
		}
	}
	return streams
}
