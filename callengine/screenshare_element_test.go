package callengine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine/calltest"
)

// elementPeer is a VoIP v1 peer that is not our engine: a bare pion
// PeerConnection driven by hand-written m.call.* events shaped as
// matrix-js-sdk (Element) sends them: version "1", a party_id, the
// metadata under the unstable key org.matrix.msc3077.sdp_stream_metadata,
// all its candidates in the offer. It shares its screen as Element does:
// addTrack of the screen's track in a stream of its own, an offer in
// m.call.negotiate whose metadata lists that stream as m.screenshare;
// stopping is removeTrack and an offer whose metadata no longer lists it.
type elementPeer struct {
	t      *testing.T
	r      *room
	userID string
	party  string
	callID string
	pc     *webrtc.PeerConnection
	meta   map[string]any

	seen int // events of r.sent handled (pump's own)
	stop chan struct{}
	done chan struct{}
}

func newElementPeer(t *testing.T, r *room, userID string) *elementPeer {
	t.Helper()
	api := webrtc.NewAPI(webrtc.WithSettingEngine(calltest.LoopbackSettings()))
	pc, err := api.NewPeerConnection(webrtc.Configuration{BundlePolicy: webrtc.BundlePolicyMaxBundle})
	if err != nil {
		t.Fatal(err)
	}
	p := &elementPeer{t: t, r: r, userID: userID, party: "ELEMENTDEVICE", callID: "1700000000000elementcall01",
		pc: pc, meta: map[string]any{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.pump()
	t.Cleanup(func() {
		close(p.stop)
		<-p.done
		_ = pc.Close()
	})
	return p
}

// send delivers an event with content as Element writes it.
func (p *elementPeer) send(evType string, content map[string]any) {
	p.t.Helper()
	content["call_id"], content["party_id"], content["version"] = p.callID, p.party, "1"
	raw, err := json.Marshal(content)
	if err != nil {
		p.t.Fatal(err)
	}
	p.r.deliver(RoomEvent{RoomID: p.r.id, Sender: p.userID, Type: evType, Content: raw})
}

// metadata is Element's metadata of the streams it sends now.
func (p *elementPeer) metadata() map[string]any {
	m := map[string]any{}
	for k, v := range p.meta {
		m[k] = v
	}
	return m
}

// addStream adds tracks in one stream with purpose.
func (p *elementPeer) addStream(purpose string, tracks ...webrtc.TrackLocal) []*webrtc.RTPSender {
	p.t.Helper()
	var senders []*webrtc.RTPSender
	for _, tr := range tracks {
		s, err := p.pc.AddTrack(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		senders = append(senders, s)
		p.meta[tr.StreamID()] = map[string]any{"purpose": purpose, "audio_muted": false, "video_muted": false}
	}
	return senders
}

// offer makes an offer with every candidate in it.
func (p *elementPeer) offer() map[string]any {
	p.t.Helper()
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		p.t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(offer); err != nil {
		p.t.Fatal(err)
	}
	<-gathered
	d := p.pc.LocalDescription()
	return map[string]any{"type": "offer", "sdp": d.SDP}
}

func (p *elementPeer) invite(invitee string) {
	p.t.Helper()
	p.send(EventInvite, map[string]any{
		"offer": p.offer(), "lifetime": 60000, "invitee": invitee,
		"capabilities":                           map[string]any{"m.call.transferee": false, "m.call.dtmf": false},
		"org.matrix.msc3077.sdp_stream_metadata": p.metadata(),
	})
}

// negotiate sends a renegotiation offer; pump applies the answer.
func (p *elementPeer) negotiate() {
	p.t.Helper()
	p.send(EventNegotiate, map[string]any{
		"description": p.offer(), "lifetime": 60000,
		"org.matrix.msc3077.sdp_stream_metadata": p.metadata(),
	})
}

// pump applies what our engine sends: the answer (then select_answer),
// candidates and negotiate answers.
func (p *elementPeer) pump() {
	defer close(p.done)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.r.mu.Lock()
		evs := append([]RoomEvent(nil), p.r.sent[p.seen:]...)
		p.seen = len(p.r.sent)
		p.r.mu.Unlock()
		for _, ev := range evs {
			if ev.Sender != p.userID {
				p.handle(ev)
			}
		}
	}
}

func (p *elementPeer) handle(ev RoomEvent) {
	c, err := ParseContent(ev.Type, ev.Content)
	if err != nil || c.base().CallID != p.callID {
		return
	}
	switch v := c.(type) {
	case *Answer:
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.Answer.SDP}); err != nil {
			p.t.Errorf("element: answer: %v", err)
			return
		}
		p.send(EventSelectAnswer, map[string]any{"selected_party_id": v.PartyID})
	case *Candidates:
		for _, cand := range v.Candidates {
			if cand.Candidate == "" {
				continue
			}
			_ = p.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex})
		}
	case *Negotiate:
		if v.Description.Type != "answer" {
			p.t.Errorf("element: our engine offered (%s) where it should only answer", v.Description.Type)
			return
		}
		if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: v.Description.SDP}); err != nil {
			p.t.Errorf("element: negotiate answer: %v", err)
		}
	}
}

// TestScreenshareFromElement: a VoIP v1 peer that is not our engine shares
// its screen by renegotiation, stops, and shares again; our engine shows
// the share (a remote track with purpose m.screenshare, RemoteScreenshare),
// then its end (RemoteScreenshare false, the track ended), without
// dropping the call or the camera, and then the new share, twice.
func TestScreenshareFromElement(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	bob := r.join(t, "@bob:test")
	el := newElementPeer(t, r, "@element:test")
	cam := calltest.NewTracks(t, "elementstream")
	el.addStream(PurposeUserMedia, cam.Audio, cam.Video)
	el.invite(bob.userID)
	bob.ringing()
	bm := newTestMedia(t, "b")
	if err := bob.eng.Answer(ctx, el.callID, true, bm.Media); err != nil {
		t.Fatal(err)
	}
	id := el.callID
	bob.waitState(id, StateConnected)
	bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
	share := bob.purposeCount(id, PurposeScreenshare, "video")

	// The third time the peer stops without dropping the stream from its
	// metadata: the stream's msid is gone from its offer, and that is
	// enough.
	for round, stream := range []string{"elementscreen", "elementscreen2", "elementscreen3"} {
		staleMeta := round == 2
		want := int64(round + 1)
		screen := calltest.NewTracks(t, stream)
		senders := el.addStream(PurposeScreenshare, screen.Video)
		mark := bob.mark()
		el.negotiate()
		bob.waitAfter(mark, "remote screenshare", func(ci CallInfo) bool { return ci.RemoteScreenshare })
		bob.waitCount("screenshare tracks", share.tracks.Load, want)
		bob.waitPurposePackets(id, PurposeScreenshare, "video", 30)
		bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)

		if err := el.pc.RemoveTrack(senders[0]); err != nil {
			t.Fatal(err)
		}
		if !staleMeta {
			delete(el.meta, stream)
		}
		mark = bob.mark()
		el.negotiate()
		bob.waitAfter(mark, "remote screenshare ended", func(ci CallInfo) bool { return !ci.RemoteScreenshare })
		bob.waitCount("ended screenshare tracks", share.ended.Load, want)
		quiet(t, "share after stopping", share.packets.Load)
		bob.waitPurposePackets(id, PurposeUserMedia, "video", 30)
		if inf, _ := bob.eng.Call(id); inf.State != StateConnected || inf.RemoteScreenshare {
			t.Fatalf("round %d: %+v", round+1, inf)
		}
		screen.Close()
		delete(el.meta, stream)
	}
	if n := bob.purposeCount(id, PurposeUserMedia, "video").tracks.Load(); n != 1 {
		t.Errorf("%d camera tracks, want 1", n)
	}
}
