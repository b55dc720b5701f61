package callengine

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// localMetadata is our sdp_stream_metadata: the camera and microphone's
// stream, and the screen share's while we share.
func (c *Call) localMetadata() map[string]StreamMetadata {
	meta := map[string]StreamMetadata{}
	if sid := c.userMediaStream(); sid != "" {
		meta[sid] = StreamMetadata{
			Purpose:    PurposeUserMedia,
			AudioMuted: c.ci.AudioMuted,
			VideoMuted: c.ci.VideoMuted || c.media.Video == nil,
		}
	}
	if c.screen != nil {
		meta[c.screen.StreamID()] = StreamMetadata{Purpose: PurposeScreenshare}
	}
	if len(meta) == 0 {
		return nil
	}
	return meta
}

func (c *Call) onTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	var purpose string
	ok := c.exec(context.Background(), func() error {
		p, keep := c.trackPurpose(t.StreamID())
		if !keep {
			return ErrWrongState
		}
		purpose = p
		return nil
	}) == nil
	if !ok {
		c.log.Debug("ignoring remote track", "stream", t.StreamID(), "kind", t.Kind())
		return
	}
	if !c.remote.add(t) {
		return // the call ended meanwhile; add ended the track
	}
	c.e.opts.onTrack(RemoteTrack{CallID: c.id, Track: t, Receiver: r, Purpose: purpose})
}

// remoteTracks ends the remote tracks of a call when it ends. Closing the
// peer connection should end every track's reads, but with pion v4.2.26
// one can stay open after renegotiations that replace receivers: CI saw a
// track reader wait in srtp's NextStream for ever, after the call had
// closed, once offers adding screen shares had crossed. The exact path in
// pion is not pinned down; a read deadline in the past ends such reads
// whatever left them open.
type remoteTracks struct {
	mu     sync.Mutex
	tracks []*webrtc.TrackRemote
	ended  bool
}

// add records t; after end it ends t at once and returns false.
func (r *remoteTracks) add(t *webrtc.TrackRemote) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		_ = t.SetReadDeadline(time.Unix(1, 0))
		return false
	}
	r.tracks = append(r.tracks, t)
	return true
}

// end ends the reads of every track added so far and of any added later.
// It is idempotent.
func (r *remoteTracks) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = true
	for _, t := range r.tracks {
		_ = t.SetReadDeadline(time.Unix(1, 0))
	}
	r.tracks = nil
}

// trackPurpose applies the sdp_stream_metadata rules: unknown purposes and
// unlisted streams are ignored; with no metadata only the peer's first
// stream is used, as user media. Streamless tracks (Nheko) are accepted.
func (c *Call) trackPurpose(streamID string) (string, bool) {
	if streamID == "" {
		return PurposeUserMedia, true
	}
	if len(c.remoteMeta) == 0 {
		if c.firstStream == "" {
			c.firstStream = streamID
		}
		return PurposeUserMedia, streamID == c.firstStream
	}
	m, ok := c.remoteMeta[streamID]
	if !ok {
		return "", false
	}
	switch m.Purpose {
	case PurposeUserMedia, PurposeScreenshare:
		return m.Purpose, true
	}
	return "", false
}

func (c *Call) setRemoteMeta(m map[string]StreamMetadata) {
	if m == nil {
		return
	}
	c.remoteMeta = m
	var a, v bool
	for _, s := range m {
		if s.Purpose == PurposeUserMedia {
			a, v = s.AudioMuted, s.VideoMuted
		}
	}
	c.ci.RemoteAudioMuted, c.ci.RemoteVideoMuted = a, v
	c.updateRemoteScreenshare()
}
