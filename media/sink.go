package media

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"gopkg.in/hraban/opus.v2"

	"github.com/mxcall/mxcall/media/framecrypt"
	"github.com/mxcall/mxcall/media/vpx"
)

// RTCPWriterFor returns a function that sends RTCP (PLI) to the peer over
// the transport of receiver, for NewVideoSink. With callengine:
// media.RTCPWriterFor(rt.Receiver).
func RTCPWriterFor(receiver *webrtc.RTPReceiver) func([]rtcp.Packet) error {
	return func(pkts []rtcp.Packet) error {
		t := receiver.Transport()
		if t == nil {
			return ErrClosed
		}
		_, err := t.WriteRTCP(pkts)
		return err
	}
}

// RegisterCodecs registers the codecs mxcall can decode: VP8 (payload type
// 96, with NACK, PLI, FIR, REMB and transport-cc feedback) and Opus (111,
// in-band FEC). H.264 is deliberately not registered: there is no H.264
// decoder here, so the SDP never offers or accepts it and peers send VP8.
func RegisterCodecs(m *webrtc.MediaEngine) error {
	fb := []webrtc.RTCPFeedback{
		{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"},
		{Type: "nack", Parameter: "pli"}, {Type: "transport-cc"},
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return err
	}
	return m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio)
}

// VideoStats counts what a VideoSink did.
type VideoStats struct {
	Frames       uint64 // pictures published to the slot
	Keyframes    uint64 // keyframes decoded
	LostFrames   uint64 // frames decoded after packets were given up on (lost)
	Skipped      uint64 // frames not decoded while waiting for a keyframe
	DecodeErrors uint64
	PLIs         uint64 // picture loss indications sent
	// NoKey counts frames dropped because their key has not arrived;
	// Undecryptable those that did not decrypt (wrong key, tampered).
	NoKey, Undecryptable uint64
	Width, Height        int
	// Start is when the sink started; FirstPacket, FirstKeyframe and
	// FirstFrame when its first RTP packet arrived, its first complete key
	// frame was assembled and its first picture was published (zero until
	// then): where the time to the first picture went.
	Start, FirstPacket, FirstKeyframe, FirstFrame time.Time
}

// VideoSink receives a remote VP8 track: RTP → frame reassembly (our own
// zero-allocation assembler) → libvpx decode → RGBA into a FrameSlot. When a frame is
// lost or undecodable it stops decoding until the next keyframe and asks
// for one with a PLI (repeated every 150 ms while waiting).
type VideoSink struct {
	cfg      sinkConfig
	track    *webrtc.TrackRemote
	sendRTCP func([]rtcp.Packet) error
	slot     *FrameSlot
	done     chan struct{}
	closing  atomic.Bool
	once     sync.Once

	mu    sync.Mutex
	stats VideoStats
}

// NewVideoSink starts decoding track into a new FrameSlot. sendRTCP sends
// PLIs to the peer (RTCPWriterFor(receiver) or PeerConnection.WriteRTCP);
// nil disables them. The sink stops when the track ends or on Close.
func NewVideoSink(track *webrtc.TrackRemote, sendRTCP func([]rtcp.Packet) error, opts ...SinkOption) (*VideoSink, error) {
	if !strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeVP8) {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, track.Codec().MimeType)
	}
	s := &VideoSink{cfg: sinkOptions(opts), track: track, sendRTCP: sendRTCP, slot: NewFrameSlot(), done: make(chan struct{})}
	s.stats.Start = time.Now()
	dec, err := vpx.NewDecoder(1)
	if err != nil {
		return nil, err
	}
	go s.run(dec)
	return s, nil
}

// Frames returns the slot the decoded pictures go to.
func (s *VideoSink) Frames() *FrameSlot { return s.slot }

// Stats returns a snapshot of the counters.
func (s *VideoSink) Stats() VideoStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Done is closed when the sink has stopped (track ended or Close).
func (s *VideoSink) Done() <-chan struct{} { return s.done }

// Close stops the sink and waits for its goroutine. It is idempotent.
func (s *VideoSink) Close() error {
	s.once.Do(func() {
		s.closing.Store(true)
		_ = s.track.SetReadDeadline(time.Now())
	})
	<-s.done
	return nil
}

func (s *VideoSink) count(f func(*VideoStats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *VideoSink) run(dec *vpx.Decoder) {
	defer close(s.done)
	d := newVideoDecoder(dec, s.slot, s.count, s.cfg.dec, func() {
		if s.sendRTCP == nil {
			return
		}
		if err := s.sendRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(s.track.SSRC())}}); err == nil {
			s.count(func(st *VideoStats) { st.PLIs++ })
		}
	})
	defer d.close()
	for {
		b := d.packet()
		n, _, err := s.track.Read(b.raw[:])
		if err != nil {
			d.free = append(d.free, b)
			return // track ended, or Close set a past read deadline
		}
		d.push(b, n)
	}
}

// videoDecoder is the receive path after the network: frame reassembly,
// loss handling, decode, a copy of the picture into the slot (the reader
// converts it to RGBA at the size it shows it). RTP packet buffers are
// recycled through a free list, so steady state allocates nothing.
type videoDecoder struct {
	asm     *vp8Assembler
	dec     *vpx.Decoder
	slot    *FrameSlot
	count   func(func(*VideoStats))
	sendPLI func()
	needKey bool
	lastPLI time.Time
	free    []*pktBuf
	// decrypt and plain: the frame decryptor (nil: frames are plain) and
	// the buffer decrypted frames go to.
	decrypt *framecrypt.Decryptor
	plain   []byte
	// countNoKey and countBad count dropped frames without allocating.
	countNoKey, countBad func(*VideoStats)
	// last describes the frame just decoded for countFrame, a closure made
	// once so that counting allocates nothing per frame.
	last       decoded
	countFrame func(*VideoStats)
	// gotPacket and gotKey: the first packet and key frame were noted.
	gotPacket, gotKey bool
}

type decoded struct {
	key           bool
	width, height int
}

func newVideoDecoder(dec *vpx.Decoder, slot *FrameSlot, count func(func(*VideoStats)), decrypt *framecrypt.Decryptor, sendPLI func()) *videoDecoder {
	d := &videoDecoder{dec: dec, slot: slot, count: count, sendPLI: sendPLI,
		needKey: true, decrypt: decrypt,
		countNoKey: func(st *VideoStats) { st.NoKey++ }, countBad: func(st *VideoStats) { st.Undecryptable++ }}
	// Give up on a missing packet after 100 ms of newer video (90 kHz clock).
	d.countFrame = func(st *VideoStats) {
		st.Frames++
		if d.last.key {
			st.Keyframes++
		}
		st.Width, st.Height = d.last.width, d.last.height
		if st.FirstFrame.IsZero() {
			st.FirstFrame = time.Now()
		}
	}
	d.asm = newVP8Assembler(90000/10, func(b *pktBuf) { d.free = append(d.free, b) })
	return d
}

func (d *videoDecoder) close() {
	_ = d.dec.Close()
}

// packet returns a recycled packet buffer.
func (d *videoDecoder) packet() *pktBuf {
	if n := len(d.free); n > 0 {
		b := d.free[n-1]
		d.free = d.free[:n-1]
		return b
	}
	return &pktBuf{}
}

// pli asks for a keyframe, at most every 150 ms unless forced.
func (d *videoDecoder) pli(force bool) {
	if !force && time.Since(d.lastPLI) < 150*time.Millisecond {
		return
	}
	d.lastPLI = time.Now()
	d.sendPLI()
}

// push takes one received RTP packet of n bytes in b.raw (b from packet()).
func (d *videoDecoder) push(b *pktBuf, n int) {
	if err := b.pkt.Unmarshal(b.raw[:n]); err != nil {
		d.free = append(d.free, b)
		return
	}
	if !d.gotPacket {
		d.gotPacket = true
		now := time.Now()
		d.count(func(st *VideoStats) { st.FirstPacket = now })
	}
	d.asm.push(b)
	for {
		data, lost, ok := d.asm.next()
		if !ok {
			break
		}
		d.frame(data, lost)
	}
	if d.needKey {
		d.pli(false)
	}
}

func (d *videoDecoder) frame(data []byte, lostBefore bool) {
	if d.decrypt != nil && len(data) > 0 {
		plain, err := d.decrypt.Decrypt(d.plain[:0], data, framecrypt.CodecVP8)
		if err != nil {
			// Dropped, never decoded; the frames after it need a key frame.
			if errors.Is(err, framecrypt.ErrNoKey) {
				d.count(d.countNoKey)
			} else {
				d.count(d.countBad)
			}
			d.needKey = true
			d.pli(false)
			return
		}
		d.plain, data = plain, plain
	}
	if lostBefore {
		d.count(func(st *VideoStats) { st.LostFrames++ })
		if !d.needKey {
			d.needKey = true
			d.pli(true)
		}
	}
	key := vpx.IsKeyframe(data)
	if key && !d.gotKey {
		d.gotKey = true
		now := time.Now()
		d.count(func(st *VideoStats) { st.FirstKeyframe = now })
	}
	if d.needKey && !key {
		d.count(func(st *VideoStats) { st.Skipped++ })
		d.pli(false)
		return
	}
	pic, ok, err := d.dec.Decode(data)
	if err != nil {
		d.count(func(st *VideoStats) { st.DecodeErrors++ })
		d.needKey = true
		d.pli(false)
		return
	}
	d.needKey = false
	if !ok {
		return
	}
	if d.slot.writeFrame().CopyPicture(pic) != nil {
		return
	}
	// Counted before it is published, so that whoever sees the picture
	// sees it counted (FirstFrame set).
	d.last = decoded{key: key, width: pic.Width, height: pic.Height}
	d.count(d.countFrame)
	d.slot.publish()
}

// AudioSink receives a remote Opus track, decodes it (libopus, with packet
// loss concealment and FEC for gaps) and writes 48 kHz mono PCM to an
// AudioOutput (a Player, or anything else).
type AudioSink struct {
	cfg     sinkConfig
	track   *webrtc.TrackRemote
	out     AudioOutput
	done    chan struct{}
	closing atomic.Bool
	once    sync.Once
	packets atomic.Uint64
	lost    atomic.Uint64
	// undecryptable counts packets dropped because they did not decrypt.
	undecryptable atomic.Uint64
}

// NewAudioSink starts decoding track into out. It stops when the track
// ends or on Close.
func NewAudioSink(track *webrtc.TrackRemote, out AudioOutput, opts ...SinkOption) (*AudioSink, error) {
	if !strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeOpus) {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, track.Codec().MimeType)
	}
	dec, err := opus.NewDecoder(sampleRate, 1)
	if err != nil {
		return nil, err
	}
	s := &AudioSink{cfg: sinkOptions(opts), track: track, out: out, done: make(chan struct{})}
	go s.run(dec)
	return s, nil
}

// Packets returns how many packets were decoded; Lost how many were
// concealed.
func (s *AudioSink) Packets() (decoded, lost uint64) { return s.packets.Load(), s.lost.Load() }

// Undecryptable returns how many packets were dropped because they did not
// decrypt (no key yet, a wrong key, tampered).
func (s *AudioSink) Undecryptable() uint64 { return s.undecryptable.Load() }

// Done is closed when the sink has stopped.
func (s *AudioSink) Done() <-chan struct{} { return s.done }

// Close stops the sink and waits for its goroutine. It is idempotent.
func (s *AudioSink) Close() error {
	s.once.Do(func() {
		s.closing.Store(true)
		_ = s.track.SetReadDeadline(time.Now())
	})
	<-s.done
	return nil
}

func (s *AudioSink) run(dec *opus.Decoder) {
	defer close(s.done)
	pcm := make([]int16, sampleRate*120/1000) // longest Opus packet
	var pkt rtp.Packet
	buf := make([]byte, 1500)
	var next uint16
	started := false
	var plain []byte
	for {
		n, _, err := s.track.Read(buf)
		if err != nil {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || len(pkt.Payload) == 0 {
			continue
		}
		if d := s.cfg.dec; d != nil {
			// One Opus frame per packet: decrypt it before anything reads it
			// (FEC included); a packet that does not decrypt is concealed as
			// lost when the next one comes.
			p, err := d.Decrypt(plain[:0], pkt.Payload, framecrypt.CodecOpus)
			if err != nil {
				s.undecryptable.Add(1)
				continue
			}
			plain, pkt.Payload = p, p
		}
		if started {
			gap := int16(pkt.SequenceNumber - next)
			if gap < 0 {
				continue // late or duplicate: already concealed
			}
			if gap > 0 && gap <= 10 {
				for i := 0; i < int(gap); i++ {
					fr := pcm[:frameSamples]
					var err error
					if i == int(gap)-1 {
						err = dec.DecodeFEC(pkt.Payload, fr)
					} else {
						err = dec.DecodePLC(fr)
					}
					if err == nil {
						s.out.WriteAudio(fr)
					}
					s.lost.Add(1)
				}
			}
		}
		started = true
		next = pkt.SequenceNumber + 1
		k, err := dec.Decode(pkt.Payload, pcm)
		if err != nil {
			continue
		}
		s.packets.Add(1)
		s.out.WriteAudio(pcm[:k])
	}
}
