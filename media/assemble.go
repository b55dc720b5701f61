package media

import (
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// asmWindow is how many sequence numbers the assembler holds (a power of
// two): about 2 s of 720p video at 2.5 Mbit/s, and more than the largest
// keyframe.
const asmWindow = 512

// pktBuf is a packet with its receive buffer, recycled through a free list.
type pktBuf struct {
	pkt rtp.Packet
	raw [1500]byte
}

// vp8Assembler puts the RTP packets of a VP8 stream back in order and joins
// each picture's payloads into one frame, without allocating once warm.
// Written by hand because pion's samplebuilder, which does the same job,
// allocates a Sample and the joined data for every frame.
//
// Packets are held in a window indexed by sequence number. A frame is
// emitted when all its packets, from the one starting partition 0 to the
// one with the marker bit, are present. A missing packet is waited for
// until the newest packet is maxDelay (RTP ticks) later than the frame
// after the gap, or the window is half full; then the gap is skipped and
// the next frame carries lostBefore, so the decoder waits for a keyframe.
type vp8Assembler struct {
	slots    [asmWindow]*pktBuf
	held     int    // packets in slots
	head     uint16 // oldest sequence number not yet emitted or skipped
	started  bool
	newestTS uint32
	lost     bool // packets were skipped since the last emitted frame
	lateRun  int  // late packets in a row
	maxDelay uint32
	frame    []byte
	vp8      codecs.VP8Packet
	release  func(*pktBuf)
}

func newVP8Assembler(maxDelay uint32, release func(*pktBuf)) *vp8Assembler {
	return &vp8Assembler{maxDelay: maxDelay, release: release, frame: make([]byte, 0, 64<<10)}
}

// push takes a parsed packet. Late and duplicate packets are released at
// once.
func (a *vp8Assembler) push(b *pktBuf) {
	seq, ts := b.pkt.SequenceNumber, b.pkt.Timestamp
	if !a.started {
		a.started, a.head, a.newestTS = true, seq, ts
	}
	d := int(int16(seq - a.head))
	switch {
	case d < 0 && a.lateRun < asmWindow/4:
		a.lateRun++
		a.release(b) // late: its frame was emitted or given up
		return
	case d < 0 || d >= asmWindow:
		// Far ahead, or so many "late" packets in a row that the stream
		// must have jumped back: start over there.
		a.reset(seq)
	}
	a.lateRun = 0
	slot := &a.slots[seq%asmWindow]
	if *slot != nil {
		a.release(b) // duplicate
		return
	}
	*slot = b
	a.held++
	if int32(ts-a.newestTS) > 0 {
		a.newestTS = ts
	}
}

// reset drops everything held and restarts the window at seq.
func (a *vp8Assembler) reset(seq uint16) {
	for i := range a.slots {
		if a.slots[i] != nil {
			a.release(a.slots[i])
			a.slots[i] = nil
		}
	}
	a.held = 0
	a.head = seq
	a.lost = true
}

// take removes and releases the packet at seq.
func (a *vp8Assembler) take(seq uint16) {
	slot := &a.slots[seq%asmWindow]
	if *slot != nil {
		a.release(*slot)
		*slot = nil
		a.held--
	}
}

// next returns the next complete frame, valid until the next call, and
// whether packets were lost before it; ok is false when none is ready.
func (a *vp8Assembler) next() (frame []byte, lostBefore, ok bool) {
	for a.held > 0 {
		p := a.slots[a.head%asmWindow]
		if p == nil {
			if !a.skipGap() {
				return nil, false, false
			}
			continue
		}
		if len(p.pkt.Payload) == 0 { // padding (bandwidth probing)
			a.take(a.head)
			a.head++
			continue
		}
		if _, err := a.vp8.Unmarshal(p.pkt.Payload); err != nil || a.vp8.S != 1 || a.vp8.PID != 0 {
			a.take(a.head) // not the start of a picture: its start was lost
			a.head++
			a.lost = true
			continue
		}
		end, st := a.frameEnd(p.pkt.Timestamp)
		if st != frameComplete {
			if st == frameWaiting && !a.givenUp(p.pkt.Timestamp, end) {
				return nil, false, false
			}
			// A packet of this picture is lost: drop what we have of it.
			for s := a.head; s != end; s++ {
				a.take(s)
			}
			a.head = end
			a.lost = true
			continue
		}
		a.frame = a.frame[:0]
		for s := a.head; s != end+1; s++ {
			if q := a.slots[s%asmWindow]; len(q.pkt.Payload) > 0 {
				if payload, err := a.vp8.Unmarshal(q.pkt.Payload); err == nil {
					a.frame = append(a.frame, payload...)
				}
			}
			a.take(s)
		}
		a.head = end + 1
		lostBefore = a.lost
		a.lost = false
		return a.frame, lostBefore, true
	}
	return nil, false, false
}

type frameStatus int

const (
	frameComplete frameStatus = iota // end is the packet with the marker bit
	frameWaiting                     // end is a missing packet
	frameBroken                      // end is a packet of a later picture: the marker packet was lost
)

// frameEnd walks from head over the packets of the picture with timestamp
// ts and says where and why the walk stopped.
func (a *vp8Assembler) frameEnd(ts uint32) (uint16, frameStatus) {
	s := a.head
	for n := 0; n < asmWindow; n, s = n+1, s+1 {
		q := a.slots[s%asmWindow]
		switch {
		case q == nil:
			return s, frameWaiting
		case q.pkt.Timestamp != ts:
			return s, frameBroken
		case q.pkt.Marker:
			return s, frameComplete
		}
	}
	return s, frameBroken
}

// givenUp reports whether waiting for the missing packet gap, in or before
// a picture with timestamp ts, has lasted long enough: packets after the
// gap have arrived, and newer pictures have kept coming for maxDelay or
// the window is half full.
func (a *vp8Assembler) givenUp(ts uint32, gap uint16) bool {
	if a.held <= int(gap-a.head) {
		return false // nothing after the gap yet: the picture is still arriving
	}
	return int32(a.newestTS-ts) >= int32(a.maxDelay) || a.held >= asmWindow/2
}

// skipGap moves head past missing packets to the next held one once
// waiting has been given up; it reports whether it moved.
func (a *vp8Assembler) skipGap() bool {
	for s := a.head + 1; s != a.head+asmWindow; s++ {
		if q := a.slots[s%asmWindow]; q != nil {
			if !a.givenUp(q.pkt.Timestamp, a.head) {
				return false
			}
			a.head = s
			a.lost = true
			return true
		}
	}
	return false
}
