// Package partner is mxcall's call partner: a headless client that answers
// every call in its rooms and sends the caller's own audio and video back,
// so a user can test a setup against a homeserver. It is the `mxcall echo`
// subcommand and the demo's partner. It answers legacy calls (Echo, over
// callengine) and MatrixRTC rings (RTCEcho, over matrixrtc sessions).
//
// It uses the same callengine and matrixclient as the app, and touches
// the caller's camera and microphone only as RTP: packets are forwarded,
// never decoded, so it costs almost no CPU. A caller's screen share is
// decoded and described in the log (share.go). It must not import Fyne.
package partner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
)

// pliInterval is how often the MatrixRTC echo asks the caller for a key
// frame, so receivers recover quickly from loss on the way back (the
// legacy echo passes its receiver's own requests on instead).
const pliInterval = 2 * time.Second

// Engine is the part of callengine the echo drives.
type Engine interface {
	Answer(ctx context.Context, callID string, video bool, m callengine.Media) error
	PlaceCall(ctx context.Context, roomID, peer string, video bool, m callengine.Media) (string, error)
}

// Echo answers calls and reflects their media. Its OnUpdate and OnTrack
// methods are meant for callengine.WithOnUpdate and WithOnTrack.
type Echo struct {
	log *slog.Logger
	// AnswerAfter is how long a call rings before the echo answers (0: at
	// once). Set it before calls come.
	AnswerAfter time.Duration
	stop        chan struct{} // closed by Close: pending answers give up

	mu     sync.Mutex
	eng    Engine
	calls  map[string]*echoCall
	closed bool
	wg     sync.WaitGroup
}

type echoCall struct {
	audio   *webrtc.TrackLocalStaticRTP
	video   *pliTrack
	sharing bool // the caller shares a screen (CallInfo.RemoteScreenshare)
}

// New returns an Echo; attach its engine with SetEngine before calls come.
func New(log *slog.Logger) *Echo {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Echo{log: log, calls: make(map[string]*echoCall), stop: make(chan struct{})}
}

// SetEngine sets the engine that answers calls.
func (e *Echo) SetEngine(eng Engine) {
	e.mu.Lock()
	e.eng = eng
	e.mu.Unlock()
}

// OnUpdate answers ringing calls and forgets ended ones.
func (e *Echo) OnUpdate(ci callengine.CallInfo) {
	switch ci.State {
	case callengine.StateRinging:
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.closed || e.eng == nil || e.calls[ci.ID] != nil {
			return
		}
		ec, err := newEchoCall(ci.ID)
		if err != nil {
			e.log.Error("echo tracks", "err", err)
			return
		}
		e.calls[ci.ID] = ec
		eng, wait := e.eng, e.AnswerAfter
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if wait > 0 {
				t := time.NewTimer(wait)
				defer t.Stop()
				select {
				case <-t.C:
				case <-e.stop:
					return
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m := callengine.Media{Audio: ec.audio}
			if ci.Video {
				m.Video = ec.video
			}
			if err := eng.Answer(ctx, ci.ID, ci.Video, m); err != nil {
				e.log.Warn("echo: answering", "call_id", ci.ID, "err", err)
			}
		}()
		e.log.Info("echo: answering", "call_id", ci.ID, "peer", ci.Peer, "video", ci.Video)
	case callengine.StateEnded:
		e.mu.Lock()
		delete(e.calls, ci.ID)
		e.mu.Unlock()
	default:
		e.mu.Lock()
		ec := e.calls[ci.ID]
		changed := ec != nil && ec.sharing != ci.RemoteScreenshare
		if changed {
			ec.sharing = ci.RemoteScreenshare
		}
		e.mu.Unlock()
		switch {
		case changed && ci.RemoteScreenshare:
			e.log.Info("echo: screen share started", "call_id", ci.ID)
		case changed:
			e.log.Info("echo: screen share ended", "call_id", ci.ID)
		}
	}
}

func newEchoCall(callID string) (*echoCall, error) {
	stream := "echo-" + callID
	a, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "echo-audio", stream)
	if err != nil {
		return nil, err
	}
	v, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "echo-video", stream)
	if err != nil {
		return nil, err
	}
	return &echoCall{audio: a, video: newPLITrack(v)}, nil
}

// OnTrack forwards a remote track's packets into the matching echo track
// until the track ends. A screen share is decoded and logged instead
// (watchShare), never mixed into the echoed camera.
func (e *Echo) OnTrack(rt callengine.RemoteTrack) {
	e.mu.Lock()
	ec := e.calls[rt.CallID]
	e.mu.Unlock()
	if ec == nil {
		return
	}
	if rt.Purpose == callengine.PurposeScreenshare {
		if rt.Track.Kind() == webrtc.RTPCodecTypeVideo {
			e.watchShare(rt)
		}
		return
	}
	var out interface{ Write([]byte) (int, error) } = ec.audio
	video := rt.Track.Kind() == webrtc.RTPCodecTypeVideo
	pli := func() {
		if tr := rt.Receiver.Transport(); tr != nil {
			_, _ = tr.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(rt.Track.SSRC())}})
		}
	}
	if video {
		out = ec.video
		// The caller's decoder asks the echo for key frames (loss on the
		// way back); its encoder makes them.
		ec.video.setOnKeyframe(pli)
		defer ec.video.setOnKeyframe(nil)
	}
	buf := make([]byte, 1500)
	for first := true; ; first = false {
		n, _, err := rt.Track.Read(buf)
		if err != nil {
			return
		}
		if first && video && !vp8Keyframe(buf[:n]) {
			// The caller sends a key frame the moment the connection is
			// up; if its start was lost, ask for another. (Asking every
			// time made the caller encode two key frames per call.)
			pli()
		}
		if _, err := out.Write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			e.log.Debug("echo: write", "err", err)
		}
	}
}

// Close stops answering and waits for pending answers. It is idempotent.
func (e *Echo) Close() error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.stop)
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// Call places a video call to peer in roomID with echo tracks: the callee
// sees and hears themself once it answers.
func (e *Echo) Call(ctx context.Context, roomID, peer string) (string, error) {
	e.mu.Lock()
	eng, closed := e.eng, e.closed
	e.mu.Unlock()
	if closed || eng == nil {
		return "", ErrClosed
	}
	ec, err := newEchoCall(roomID)
	if err != nil {
		return "", err
	}
	id, err := eng.PlaceCall(ctx, roomID, peer, true, callengine.Media{Audio: ec.audio, Video: ec.video})
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.calls[id] = ec
	e.mu.Unlock()
	return id, nil
}
