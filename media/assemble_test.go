package media

import (
	"bytes"
	"fmt"
	"testing"
)

// asmPkt describes one packet for the assembler tests.
type asmPkt struct {
	seq     uint16
	ts      uint32
	start   bool // VP8 S bit with partition 0
	marker  bool
	payload string // empty: a padding packet
}

// picture returns the packets of one picture split in parts, with
// payload "<name>0", "<name>1"...
func picture(seq uint16, ts uint32, parts int, name string) []asmPkt {
	out := make([]asmPkt, parts)
	for i := range out {
		out[i] = asmPkt{seq: seq + uint16(i), ts: ts, start: i == 0, marker: i == parts-1, payload: fmt.Sprint(name, i)}
	}
	return out
}

type asmResult struct {
	frame string
	lost  bool
}

type asmHarness struct {
	a        *vp8Assembler
	released int
	pushed   int
	out      []asmResult
}

func newAsmHarness() *asmHarness {
	h := &asmHarness{}
	h.a = newVP8Assembler(9000, func(*pktBuf) { h.released++ })
	return h
}

func (h *asmHarness) push(ps ...asmPkt) {
	for _, p := range ps {
		b := &pktBuf{}
		b.pkt.SequenceNumber, b.pkt.Timestamp, b.pkt.Marker = p.seq, p.ts, p.marker
		if p.payload != "" {
			desc := byte(0x00)
			if p.start {
				desc = 0x10
			}
			b.pkt.Payload = append([]byte{desc}, p.payload...)
		}
		h.pushed++
		h.a.push(b)
		for {
			f, lost, ok := h.a.next()
			if !ok {
				break
			}
			h.out = append(h.out, asmResult{string(bytes.Clone(f)), lost})
		}
	}
}

func (h *asmHarness) want(t *testing.T, want ...asmResult) {
	t.Helper()
	if fmt.Sprint(h.out) != fmt.Sprint(want) {
		t.Fatalf("frames %v, want %v", h.out, want)
	}
}

func TestAssemblerInOrderAndReordered(t *testing.T) {
	h := newAsmHarness()
	h.push(picture(100, 0, 3, "a")...)
	b := picture(103, 3000, 3, "b")
	h.push(b[2], b[0], b[1])              // reordered
	h.push(b[1])                          // duplicate
	h.push(picture(99, 0, 1, "late")...)  // late
	h.push(picture(106, 6000, 1, "c")...) // single packet
	h.push(asmPkt{seq: 107, ts: 6000})    // padding
	h.push(picture(108, 9000, 2, "d")...) // after padding
	h.want(t, asmResult{"a0a1a2", false}, asmResult{"b0b1b2", false}, asmResult{"c0", false}, asmResult{"d0d1", false})
	if h.released != h.pushed || h.a.held != 0 {
		t.Errorf("released %d of %d packets, %d held", h.released, h.pushed, h.a.held)
	}
}

func TestAssemblerLostPacketSkipsPicture(t *testing.T) {
	h := newAsmHarness()
	a := picture(10, 0, 3, "a")
	h.push(a[0], a[2]) // a[1] lost
	h.want(t)
	// Newer pictures keep coming; after 100 ms (9000 ticks) of them the
	// gap is given up and the next picture says that something was lost.
	for i := 0; i < 4; i++ {
		h.push(picture(uint16(13+i), uint32(3000*(i+1)), 1, fmt.Sprint("n", i))...)
	}
	h.want(t, asmResult{"n00", true}, asmResult{"n10", false}, asmResult{"n20", false}, asmResult{"n30", false})
	h.push(a[1]) // far too late
	if h.released != h.pushed || h.a.held != 0 {
		t.Errorf("released %d of %d packets, %d held", h.released, h.pushed, h.a.held)
	}
}

func TestAssemblerLostMarkerAndStart(t *testing.T) {
	h := newAsmHarness()
	a := picture(10, 0, 3, "a")
	h.push(a[0], a[1])                   // a[2], the marker, lost
	h.push(picture(13, 3000, 2, "b")...) // the next picture shows a's end is gone
	c := picture(15, 6000, 2, "c")
	h.push(c[1])                          // c's start lost...
	h.push(picture(17, 15000, 1, "d")...) // ...given up 100 ms later
	h.want(t, asmResult{"b0b1", true}, asmResult{"d0", true})
}

func TestAssemblerWrapAndJump(t *testing.T) {
	h := newAsmHarness()
	h.push(picture(65534, 0, 4, "w")...) // sequence numbers wrap
	h.push(picture(2, 3000, 1, "x")...)
	h.push(picture(20000, 6000, 1, "j")...) // a jump far outside the window
	h.push(picture(20001, 9000, 1, "k")...)
	h.want(t, asmResult{"w0w1w2w3", false}, asmResult{"x0", false}, asmResult{"j0", true}, asmResult{"k0", false})
	// A jump back: the packets look late until there are too many of them.
	for i := 0; i < asmWindow; i++ {
		h.push(picture(uint16(10000+i), uint32(12000+3000*i), 1, "b")...)
	}
	if n := len(h.out); n < 4+asmWindow*3/4-1 || !h.out[4].lost {
		t.Fatalf("%d frames after a jump back of %d; first %v", n-4, asmWindow, h.out[4])
	}
}

func TestAssemblerBigPicture(t *testing.T) {
	h := newAsmHarness()
	h.push(picture(7, 0, asmWindow*3/4, "k")...) // a keyframe of many packets
	if len(h.out) != 1 || h.out[0].lost {
		t.Fatalf("got %d frames (%v), want the whole picture", len(h.out), h.out)
	}
}

func TestAssemblerWindowHalfFull(t *testing.T) {
	h := newAsmHarness()
	a := picture(0, 0, 3, "a")
	h.push(a[0], a[2]) // a[1] lost
	// Many packets follow while the clock hardly moves: the window fills
	// to half and the gap is given up.
	h.push(picture(3, 100, asmWindow/2, "b")...)
	if len(h.out) != 1 || !h.out[0].lost || len(h.out[0].frame) == 0 {
		t.Fatalf("frames %v, want the big picture after a loss", h.out)
	}
}
