package callengine

import (
	"strings"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Hold follows RFC 3264 §8.4 as matrix-js-sdk (Element) does: the side
// that holds offers its media sections sendonly (inactive when the peer
// holds it too), the held side answers recvonly (inactive when it holds
// too), and resuming offers sendrecv again. pion cannot set a
// transceiver's direction, so its transceivers keep theirs (sendrecv for
// our tracks) and the directions are set in the SDP we send (wireSDP);
// while on hold either way our tracks stay attached (so the SDP keeps
// their msid, as Chromium's does, and the peer keeps its streams) but a
// gate drops their packets.

// direction is an SDP media direction from the describing side's view.
type direction struct{ send, recv bool }

var directionNames = map[string]direction{
	"sendrecv": {true, true},
	"sendonly": {true, false},
	"recvonly": {false, true},
	"inactive": {false, false},
}

func (d direction) String() string {
	switch {
	case d.send && d.recv:
		return "sendrecv"
	case d.send:
		return "sendonly"
	case d.recv:
		return "recvonly"
	}
	return "inactive"
}

// reversed is the direction as the other side sees it.
func (d direction) reversed() direction { return direction{send: d.recv, recv: d.send} }

// sdpMedia is an audio or video media section of an SDP.
type sdpMedia struct {
	mid     string
	dir     direction
	stopped bool // port 0 without bundle-only: rejected or stopped
}

// sdpLines splits an SDP into lines that keep their line endings.
func sdpLines(sdp string) []string { return strings.SplitAfter(sdp, "\n") }

func sdpAttr(line string) string { return strings.TrimRight(line, "\r\n") }

// mediaSections returns the audio and video sections of sdp in order,
// each with the index of its m= line, its end (exclusive) and the index
// of its direction line (-1 if it has none).
func mediaSections(lines []string) (secs []sdpMedia, spans [][3]int) {
	sessionDir := direction{true, true}
	cur := -1 // index in secs of the section being read, -1 outside audio/video
	inMedia := false
	closeCur := func(end int) {
		if cur >= 0 {
			spans[cur][1] = end
		}
		cur = -1
	}
	for i, raw := range lines {
		line := sdpAttr(raw)
		if m, ok := strings.CutPrefix(line, "m="); ok {
			closeCur(i)
			inMedia = true
			f := strings.Fields(m)
			if len(f) < 2 || (f[0] != "audio" && f[0] != "video") {
				continue
			}
			secs = append(secs, sdpMedia{dir: sessionDir, stopped: f[1] == "0"})
			spans = append(spans, [3]int{i, len(lines), -1})
			cur = len(secs) - 1
			continue
		}
		a, ok := strings.CutPrefix(line, "a=")
		if !ok {
			continue
		}
		if d, isDir := directionNames[a]; isDir {
			switch {
			case !inMedia:
				sessionDir = d
			case cur >= 0:
				secs[cur].dir = d
				spans[cur][2] = i
			}
			continue
		}
		if cur < 0 {
			continue
		}
		if mid, isMid := strings.CutPrefix(a, "mid:"); isMid {
			secs[cur].mid = mid
		} else if a == "bundle-only" {
			secs[cur].stopped = false
		}
	}
	closeCur(len(lines))
	return secs, spans
}

// sdpDirections returns the direction of each live audio/video section of
// sdp by mid.
func sdpDirections(sdp string) map[string]direction {
	secs, _ := mediaSections(sdpLines(sdp))
	dirs := make(map[string]direction, len(secs))
	for _, s := range secs {
		if !s.stopped && s.mid != "" {
			dirs[s.mid] = s.dir
		}
	}
	return dirs
}

// setDirections rewrites the direction of each live audio/video section of
// sdp to what f returns for it, leaving every other byte as it was.
func setDirections(sdp string, f func(mid string, d direction) direction) string {
	lines := sdpLines(sdp)
	secs, spans := mediaSections(lines)
	insert := map[int]string{} // line index → line to add before it
	for i, s := range secs {
		if s.stopped || s.mid == "" {
			continue
		}
		want := f(s.mid, s.dir)
		if want == s.dir {
			continue
		}
		eol := "\r\n"
		if !strings.HasSuffix(lines[spans[i][0]], "\r\n") {
			eol = "\n"
		}
		if at := spans[i][2]; at >= 0 {
			lines[at] = "a=" + want.String() + eol
			continue
		}
		insert[spans[i][1]] = "a=" + want.String() + eol
	}
	var b strings.Builder
	b.Grow(len(sdp) + 16*len(insert))
	for i, l := range lines {
		b.WriteString(insert[i])
		b.WriteString(l)
	}
	if l, ok := insert[len(lines)]; ok {
		if !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\r\n")
		}
		b.WriteString(l)
	}
	return b.String()
}

// inactiveAsSendonly returns a remote offer for pion: pion stops a
// transceiver for good when an offer marks its section inactive (as a peer
// that holds us while we hold it may), so such sections are handed to it as
// sendonly, which pion answers without stopping anything. What we answer
// on the wire still follows the real offer (see wireSDP).
func inactiveAsSendonly(sdp string) string {
	return setDirections(sdp, func(_ string, d direction) direction {
		if !d.send && !d.recv {
			return direction{send: true}
		}
		return d
	})
}

// answerForPion returns the peer's answer for pion: where our offer asked
// the peer not to send only because we hold it (pion's own offer invites
// it), pion is told the peer sends. Else pion drops its receivers there,
// and when the hold ends the peer's media arrives before the answer that
// declares it again (pion then never hands it over, and leaks the reader).
func (c *Call) answerForPion(sdp string) string {
	local := c.pc.PendingLocalDescription()
	if local == nil {
		return sdp
	}
	ours := sdpDirections(local.SDP)
	return setDirections(sdp, func(mid string, d direction) direction {
		if ours[mid].recv && !c.sentOffer[mid].recv {
			d.send = true
		}
		return d
	})
}

// wireSDP is the SDP we send for desc, pion's local description: each
// audio/video section's direction is what pion's transceiver allows, as
// answerer narrowed by the peer's offer (pion does not narrow it), and
// without receiving while we hold the peer; a hold offer made while the
// peer holds us too is inactive (RFC 3264 §8.4). It remembers what an
// offer said, to read the answer by, and which hold state was sent.
func (c *Call) wireSDP(desc webrtc.SessionDescription) string {
	var offer map[string]direction
	if desc.Type == webrtc.SDPTypeAnswer {
		offer = sdpDirections(c.remoteOffer)
	}
	out := setDirections(desc.SDP, func(mid string, d direction) direction {
		if r, ok := offer[mid]; ok {
			peer := r.reversed()
			d = direction{send: d.send && peer.send, recv: d.recv && peer.recv}
		}
		if c.ci.OnHold {
			d.recv = false
			if desc.Type == webrtc.SDPTypeOffer && c.ci.RemoteOnHold {
				d.send = false
			}
		}
		return d
	})
	if desc.Type == webrtc.SDPTypeOffer {
		c.sentOffer = sdpDirections(out)
	}
	c.sentHold = c.ci.OnHold
	return out
}

// noteRemoteHold updates RemoteOnHold from a description the peer sent
// (its real SDP). As matrix-js-sdk's isLocalOnHold, the peer holds us when
// it receives nothing from us in any section where we would send: in its
// offer, the sections where we have a sender; in its answer, the sections
// our offer said we send in (our inactive offer, made when both hold, says
// nothing new, so the state stays).
func (c *Call) noteRemoteHold(sdp string, isAnswer bool) {
	weSend := func(mid string) bool {
		if isAnswer {
			return c.sentOffer[mid].send
		}
		for _, t := range c.pc.GetTransceivers() {
			if t.Mid() == mid {
				return t.Sender() != nil
			}
		}
		return false
	}
	seen, held := false, true
	for mid, d := range sdpDirections(sdp) {
		if !weSend(mid) {
			continue
		}
		seen = true
		held = held && !d.recv
	}
	if seen {
		c.ci.RemoteOnHold = held
	}
	c.updateGate()
}

// updateGate lets our media through unless the call is on hold either way.
func (c *Call) updateGate() { c.gate.Store(!c.ci.OnHold && !c.ci.RemoteOnHold) }

// gated returns t wrapped in the call's send gate (nil stays nil).
func (c *Call) gated(t webrtc.TrackLocal) webrtc.TrackLocal {
	if t == nil {
		return nil
	}
	return gatedTrack{TrackLocal: t, open: &c.gate}
}

// gatedTrack is a local track whose packets reach the sender only while
// open is set.
type gatedTrack struct {
	webrtc.TrackLocal
	open *atomic.Bool
}

// Bind implements webrtc.TrackLocal.
func (g gatedTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	return g.TrackLocal.Bind(gatedContext{ctx, g.open})
}

// RequestKeyframe passes the request on when the track can make key frames.
func (g gatedTrack) RequestKeyframe() {
	if k, ok := g.TrackLocal.(KeyframeRequester); ok {
		k.RequestKeyframe()
	}
}

// Unbind implements webrtc.TrackLocal.
func (g gatedTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	return g.TrackLocal.Unbind(gatedContext{ctx, g.open})
}

type gatedContext struct {
	webrtc.TrackLocalContext
	open *atomic.Bool
}

func (c gatedContext) WriteStream() webrtc.TrackLocalWriter {
	return gatedWriter{c.TrackLocalContext.WriteStream(), c.open}
}

type gatedWriter struct {
	w    webrtc.TrackLocalWriter
	open *atomic.Bool
}

func (w gatedWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if !w.open.Load() {
		return len(payload), nil
	}
	return w.w.WriteRTP(h, payload)
}

func (w gatedWriter) Write(b []byte) (int, error) {
	if !w.open.Load() {
		return len(b), nil
	}
	return w.w.Write(b)
}
