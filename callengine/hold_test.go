package callengine

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// chromiumSDP reads one SDP that Chromium produced for a held call (see
// testdata/capture-hold-sdp.js for how it was captured).
func chromiumSDP(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "chromium-hold", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func dirsString(d map[string]direction) string {
	var parts []string
	for _, mid := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, mid+":"+d[mid].String())
	}
	return strings.Join(parts, " ")
}

// TestHoldWithChromium puts our engine in the place of B in the captured
// exchange between two Chromium peers holding each other the way
// matrix-js-sdk does (testdata/chromium-hold/summary.json). A is Element:
// its offers and answers are fed to our engine, and the directions our
// engine sends must be those Chromium's B sent (except that our hold offer
// while held is inactive, RFC 3264 §8.4, where Chromium says sendonly; the
// capture turned B's offer inactive there too), and CallInfo must say who
// holds whom as Element's isRemoteOnHold/isLocalOnHold do.
func TestHoldWithChromium(t *testing.T) {
	guard(t)
	ctx := context.Background()
	r := newRoom("!r:test")
	bob := r.join(t, "@bob:test")
	bm := newTestMedia(t, "b")
	const callID = "chromiumholdcall"
	base := Base{CallID: callID, PartyID: "CHROMIUMA", Version: Version1}
	fromA := func(evType string, content any) {
		t.Helper()
		raw, err := json.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		bob.eng.HandleEvents(ctx, []RoomEvent{{RoomID: r.id, Sender: "@alice:test", Type: evType, Content: raw, Received: time.Now()}})
	}
	// sent waits for our engine's n-th description of type evType.
	sent := func(evType string, n int) SessionDescription {
		t.Helper()
		waitEvents(t, r, evType, n)
		ev := r.eventsOfType(evType)[n-1]
		c, err := ParseContent(ev.Type, ev.Content)
		if err != nil {
			t.Fatal(err)
		}
		switch v := c.(type) {
		case *Answer:
			return v.Answer
		case *Negotiate:
			return v.Description
		}
		t.Fatalf("%s is no description", evType)
		return SessionDescription{}
	}
	// state returns the call's info once what was posted before it ran,
	// and whether our media passes the gate.
	state := func() (CallInfo, bool) {
		t.Helper()
		c, err := bob.eng.call(callID)
		if err != nil {
			t.Fatal(err)
		}
		var ci CallInfo
		var open bool
		if err := c.exec(ctx, func() error { ci, open = c.ci, c.gate.Load(); return nil }); err != nil {
			t.Fatal(err)
		}
		return ci, open
	}
	sameDirs := func(what, got, want string) {
		t.Helper()
		g, w := dirsString(sdpDirections(got)), dirsString(sdpDirections(want))
		if g != w || g == "" {
			t.Errorf("%s: directions %q, Chromium's %q", what, g, w)
		}
	}

	fromA(EventInvite, &Invite{Base: base, Offer: SessionDescription{Type: "offer", SDP: chromiumSDP(t, "1-call-offer.sdp")},
		Lifetime: 60000, Invitee: bob.userID})
	bob.ringing()
	if err := bob.eng.Answer(ctx, callID, true, bm.Media); err != nil {
		t.Fatal(err)
	}
	sameDirs("answer", sent(EventAnswer, 1).SDP, chromiumSDP(t, "1-call-answer.sdp"))

	steps := []struct {
		step string
		// aOffers: A offers and we answer; else we hold (or resume) and
		// A answers.
		aOffers        bool
		hold           bool
		onHold, remote bool // CallInfo.OnHold, RemoteOnHold after the step
	}{
		{step: "2-a-holds", aOffers: true, remote: true},
		{step: "3-a-resumes", aOffers: true},
		{step: "4-b-holds", hold: true, onHold: true},
		{step: "5-both-hold", aOffers: true, onHold: true, remote: true},
		{step: "6-b-resumes-a-holds", hold: false, remote: true},
		{step: "7-b-holds-inactive", hold: true, onHold: true, remote: true},
		{step: "8-a-resumes-b-holds", aOffers: true, onHold: true},
		{step: "9-b-resumes", hold: false},
	}
	negotiates := 0
	for _, s := range steps {
		negotiates++
		if s.aOffers {
			fromA(EventNegotiate, &Negotiate{Base: base, Description: SessionDescription{Type: "offer", SDP: chromiumSDP(t, s.step+"-offer.sdp")}})
			ans := sent(EventNegotiate, negotiates)
			if ans.Type != "answer" {
				t.Fatalf("%s: we sent an %s", s.step, ans.Type)
			}
			sameDirs(s.step+": our answer", ans.SDP, chromiumSDP(t, s.step+"-answer.sdp"))
		} else {
			if err := bob.eng.SetHold(ctx, callID, s.hold); err != nil {
				t.Fatalf("%s: %v", s.step, err)
			}
			offer := sent(EventNegotiate, negotiates)
			if offer.Type != "offer" {
				t.Fatalf("%s: we sent an %s", s.step, offer.Type)
			}
			sameDirs(s.step+": our offer", offer.SDP, chromiumSDP(t, s.step+"-offer.sdp"))
			fromA(EventNegotiate, &Negotiate{Base: base, Description: SessionDescription{Type: "answer", SDP: chromiumSDP(t, s.step+"-answer.sdp")}})
		}
		ci, open := state()
		if ci.OnHold != s.onHold || ci.RemoteOnHold != s.remote {
			t.Errorf("%s: OnHold %v RemoteOnHold %v, want %v %v", s.step, ci.OnHold, ci.RemoteOnHold, s.onHold, s.remote)
		}
		if want := !s.onHold && !s.remote; open != want {
			t.Errorf("%s: our media passes: %v, want %v", s.step, open, want)
		}
		if ci.State == StateEnded {
			t.Fatalf("%s: call ended (%s)", s.step, ci.EndReason)
		}
	}
	if n := len(r.eventsOfType(EventNegotiate)); n != negotiates {
		t.Errorf("%d negotiate events, want %d (no extra offers)", n, negotiates)
	}
}

func TestSDPDirections(t *testing.T) {
	const sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n" +
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n" +
		"m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:3\r\na=inactive\r\n"
	if got := dirsString(sdpDirections(sdp)); got != "0:sendrecv 1:recvonly" {
		t.Errorf("directions %q", got)
	}
	tests := []struct {
		name, in, want string
		f              func(string, direction) direction
	}{
		{"hold", sdp, "0:sendonly 1:inactive", func(_ string, d direction) direction { d.recv = false; return d }},
		{"one mid", sdp, "0:sendrecv 1:sendonly", func(mid string, d direction) direction {
			if mid == "1" {
				return d.reversed()
			}
			return d
		}},
		{"no direction line, LF only", "v=0\ns=-\nm=audio 9 RTP/AVP 0\na=mid:a\nm=video 9 RTP/AVP 96\na=mid:v\n", "a:sendonly v:sendonly",
			func(_ string, d direction) direction { d.recv = false; return d }},
		{"session-level direction", "v=0\r\ns=-\r\na=sendonly\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\n", "a:inactive",
			func(_ string, d direction) direction { d.send = false; return d }},
		{"bundle-only section counts", "v=0\r\ns=-\r\nm=audio 0 RTP/AVP 0\r\na=bundle-only\r\na=mid:a\r\na=sendrecv\r\n", "a:recvonly",
			func(_ string, d direction) direction { d.send = false; return d }},
		{"garbage", "m=\r\nm=audio\r\na=\r\n", "", func(_ string, d direction) direction { return direction{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := setDirections(tt.in, tt.f)
			if got := dirsString(sdpDirections(out)); got != tt.want {
				t.Errorf("directions %q, want %q\n%s", got, tt.want, out)
			}
			if setDirections(tt.in, func(_ string, d direction) direction { return d }) != tt.in {
				t.Error("identity rewrite changed the SDP")
			}
		})
	}
	if got := setDirections(sdp, func(_ string, d direction) direction { d.recv = false; return d }); strings.Count(got, "\r\n") != strings.Count(sdp, "\r\n") ||
		!strings.Contains(got, "a=mid:3\r\na=inactive\r\n") || !strings.Contains(got, "a=rtpmap:111 opus/48000/2\r\n") {
		t.Errorf("rewrite touched more than directions:\n%s", got)
	}
	if got := dirsString(sdpDirections(inactiveAsSendonly(chromiumSDP(t, "7-b-holds-inactive-offer.sdp")))); got != "0:sendonly 1:sendonly" {
		t.Errorf("inactive offer for pion: %q", got)
	}
}
