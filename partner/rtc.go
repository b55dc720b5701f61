package partner

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/matrixrtc"
)

// rtcJoinTimeout bounds one MatrixRTC join (discovery, membership, token,
// LiveKit connection, publishing).
const rtcJoinTimeout = 30 * time.Second

// rtcSession is what the echo needs of a *matrixrtc.Session; tests fake
// it.
type rtcSession interface {
	Join(ctx context.Context) error
	Close() error
}

// RTCConfig configures an RTCEcho.
type RTCConfig struct {
	// Matrix reaches the homeserver (sessions, declines).
	Matrix matrixrtc.Matrix
	// Discovery finds the focus; a callee also finds the caller's.
	Discovery matrixrtc.Discovery
	// Encrypted reports whether a room is end-to-end encrypted (nil: every
	// room counts as encrypted). In such a room's call the echo's media is
	// encrypted end to end: it sends back the caller's own encrypted
	// frames and gives the caller, as the echo's media key, the caller's
	// own key (mirrored from the keys the caller sends it). Without Keys
	// it never publishes into such a call: it declines the ring.
	Encrypted func(roomID string) bool
	// Keys sends the mirrored media keys Olm-encrypted (nil: no media
	// encryption). Decrypted to-device events reach the echo through
	// OnToDevice.
	Keys matrixrtc.ToDevice
	// AnswerAfter lets rings ring this long before the echo joins.
	AnswerAfter time.Duration
	Log         *slog.Logger

	// newSession builds sessions (matrixrtc.NewSession; tests fake it).
	newSession func(matrixrtc.SessionConfig) (rtcSession, error)
}

// RTCEcho answers MatrixRTC rings (a matrixrtc.Tracker's OnRing): it joins
// the call and publishes back, as tracks of its own, the RTP of what the
// caller publishes, and leaves when the caller leaves. Its methods
// OnRing, OnRingEnded and OnMembers are meant for a Tracker; they never
// block.
type RTCEcho struct {
	cfg  RTCConfig
	stop chan struct{} // closed by Close

	mu     sync.Mutex
	calls  map[string]*rtcEchoCall // by room
	closed bool
	wg     sync.WaitGroup
}

// rtcEchoCall is the echo in one room's call.
type rtcEchoCall struct {
	ring   matrixrtc.Ring
	audio  *webrtc.TrackLocalStaticRTP
	video  *pliTrack          // passes receivers' key frame requests to the caller
	cancel context.CancelFunc // stops a pending join
	leave  chan struct{}      // closed to make the echo leave
	once   sync.Once
	// keys takes in the caller's media keys and mirrors them (encrypted
	// rooms only; nil otherwise).
	keys *matrixrtc.KeyManager
}

func (c *rtcEchoCall) end() { c.once.Do(func() { close(c.leave); c.cancel() }) }

// NewRTCEcho returns an RTCEcho; Close it.
func NewRTCEcho(cfg RTCConfig) *RTCEcho {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Encrypted == nil {
		cfg.Encrypted = func(string) bool { return true }
	}
	if cfg.newSession == nil {
		cfg.newSession = func(c matrixrtc.SessionConfig) (rtcSession, error) { return matrixrtc.NewSession(c) }
	}
	return &RTCEcho{cfg: cfg, stop: make(chan struct{}), calls: make(map[string]*rtcEchoCall)}
}

// OnRing answers a ring: it joins the call with echo tracks (after
// AnswerAfter), or declines it in an encrypted room.
func (e *RTCEcho) OnRing(r matrixrtc.Ring) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.calls[r.RoomID] != nil {
		return
	}
	encrypted := e.cfg.Encrypted(r.RoomID)
	if encrypted && e.cfg.Keys == nil {
		e.cfg.Log.Warn("echo: declining a MatrixRTC ring in an encrypted room (its media would not be encrypted)", "room", r.RoomID)
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), rtcJoinTimeout)
			defer cancel()
			if err := matrixrtc.Decline(ctx, e.cfg.Matrix, r); err != nil {
				e.cfg.Log.Warn("echo: declining", "room", r.RoomID, "err", err)
			}
		}()
		return
	}
	tracks, err := newEchoCall("rtc-" + r.EventID)
	if err != nil {
		e.cfg.Log.Error("echo tracks", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &rtcEchoCall{ring: r, audio: tracks.audio, video: tracks.video, cancel: cancel, leave: make(chan struct{})}
	if encrypted {
		km, err := e.mirrorKeys(r)
		if err != nil {
			cancel()
			e.cfg.Log.Error("echo: media keys", "room", r.RoomID, "err", err)
			return
		}
		c.keys = km
	}
	e.calls[r.RoomID] = c
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		e.serve(ctx, c)
	}()
	e.cfg.Log.Info("echo: answering a MatrixRTC ring", "room", r.RoomID, "caller", r.Sender, "video", r.Video)
}

// serve joins c's call and stays until the caller leaves, the session
// ends or the echo closes; the session's Close leaves.
func (e *RTCEcho) serve(ctx context.Context, c *rtcEchoCall) {
	defer e.forget(c)
	if e.cfg.AnswerAfter > 0 {
		t := time.NewTimer(e.cfg.AnswerAfter)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	tracks := []webrtc.TrackLocal{c.audio}
	if c.ring.Video {
		tracks = append(tracks, c.video)
	}
	var fwd sync.WaitGroup
	defer c.video.wait() // RTCP readers end with the publishing connection
	defer fwd.Wait()     // forwarders end when the session's tracks do
	if c.keys != nil {
		defer func() { _ = c.keys.Close() }()
	}
	sess, err := e.cfg.newSession(matrixrtc.SessionConfig{
		Matrix: e.cfg.Matrix, RoomID: c.ring.RoomID, Discovery: e.cfg.Discovery, Tracks: tracks,
		Intent: intent(c.ring.Video), Encrypted: c.keys != nil,
		OnRemoteTrack: func(rt matrixrtc.RemoteTrack) {
			if !strings.HasPrefix(rt.Identity, c.ring.Sender+":") {
				return // only the caller's media goes back
			}
			fwd.Add(1)
			go func() {
				defer fwd.Done()
				e.forward(rt, c)
			}()
		},
		OnEnded: func(error) { c.end() },
		Log:     e.cfg.Log,
	})
	if err != nil {
		e.cfg.Log.Error("echo: session", "room", c.ring.RoomID, "err", err)
		return
	}
	defer func() { _ = sess.Close() }() // leaves; LiveKit's tracks end
	jctx, cancel := context.WithTimeout(ctx, rtcJoinTimeout)
	err = sess.Join(jctx)
	cancel()
	if err != nil {
		e.cfg.Log.Warn("echo: joining the MatrixRTC call", "room", c.ring.RoomID, "err", err)
		return
	}
	e.cfg.Log.Info("echo: in the MatrixRTC call", "room", c.ring.RoomID)
	select {
	case <-c.leave:
	case <-e.stop:
	}
	e.cfg.Log.Info("echo: leaving the MatrixRTC call", "room", c.ring.RoomID)
}

// forward writes the RTP of a remote track into the echo track of its
// kind until the track ends, asking for key frames now and then so the
// caller's decoder recovers quickly from loss on the way back.
func (e *RTCEcho) forward(rt matrixrtc.RemoteTrack, c *rtcEchoCall) {
	start, kind := time.Now(), rt.Track.Kind()
	log := e.cfg.Log.With("room", c.ring.RoomID, "kind", kind.String())
	var out interface{ Write([]byte) (int, error) } = c.audio
	if kind == webrtc.RTPCodecTypeVideo {
		out = c.video
		if rt.RequestKeyframe != nil {
			c.video.setOnKeyframe(func() {
				log.Debug("echo: key frame request from a receiver, passed on to the caller", "since_subscribed", time.Since(start).Round(time.Millisecond))
				rt.RequestKeyframe()
			})
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(pliInterval)
			defer t.Stop()
			for {
				if rt.RequestKeyframe != nil {
					rt.RequestKeyframe()
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	log.Debug("echo: forwarding the caller's track")
	buf := make([]byte, 1500)
	first, key := true, kind != webrtc.RTPCodecTypeVideo
	for {
		n, _, err := rt.Track.Read(buf)
		if err != nil {
			return
		}
		if first {
			first = false
			log.Debug("echo: first packet of the caller's track", "since_subscribed", time.Since(start).Round(time.Millisecond))
		}
		if !key && vp8Keyframe(buf[:n]) {
			key = true
			log.Debug("echo: first key frame of the caller's track", "since_subscribed", time.Since(start).Round(time.Millisecond))
		}
		if _, err := out.Write(buf[:n]); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			e.cfg.Log.Debug("echo: write", "err", err)
		}
	}
}

// vp8Keyframe says whether raw is an RTP packet that starts a VP8 key
// frame (RFC 7741: the first packet of partition 0 of a frame whose
// header's P bit is 0; the header stays in the clear in LiveKit's frame
// encryption).
func vp8Keyframe(raw []byte) bool {
	var p rtp.Packet
	if p.Unmarshal(raw) != nil {
		return false
	}
	var v codecs.VP8Packet
	if _, err := v.Unmarshal(p.Payload); err != nil {
		return false
	}
	return v.S == 1 && v.PID == 0 && len(v.Payload) > 0 && v.Payload[0]&1 == 0
}

func intent(video bool) string {
	if video {
		return "video"
	}
	return "audio"
}

func (e *RTCEcho) forget(c *rtcEchoCall) {
	e.mu.Lock()
	if e.calls[c.ring.RoomID] == c {
		delete(e.calls, c.ring.RoomID)
	}
	e.mu.Unlock()
}

// OnRingEnded gives up a pending answer when the ring stopped before the
// echo joined (timed out, caller gone, declined or answered elsewhere).
func (e *RTCEcho) OnRingEnded(r matrixrtc.Ring, why matrixrtc.RingEnd) {
	if why == matrixrtc.RingAnsweredHere {
		return
	}
	e.mu.Lock()
	c := e.calls[r.RoomID]
	e.mu.Unlock()
	if c != nil && c.ring.EventID == r.EventID {
		c.cancel() // a join under way or pending gives up; a joined echo stays
	}
}

// mirrorKeys returns a key manager that takes in the media keys of r's
// caller and sends each back to the caller's device as the echo's own key
// at the same index. The echo publishes the caller's encrypted frames
// unchanged, so the caller decrypts them with that key. It makes no key of
// its own (it is never given the members).
func (e *RTCEcho) mirrorKeys(r matrixrtc.Ring) (*matrixrtc.KeyManager, error) {
	me, dev := e.cfg.Matrix.UserID(), e.cfg.Matrix.DeviceID()
	return matrixrtc.NewKeyManager(matrixrtc.KeyConfig{
		Send: e.cfg.Keys, RoomID: r.RoomID, UserID: me, DeviceID: dev, Log: e.cfg.Log,
		OnRemoteKey: func(identity string, index uint8, key []byte) {
			user, device, ok := splitIdentity(identity)
			if !ok || user != r.Sender {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), rtcJoinTimeout)
			defer cancel()
			content := matrixrtc.KeyContent(r.RoomID, me, dev, index, key)
			if err := e.cfg.Keys.SendToDevice(ctx, matrixrtc.TypeEncryptionKeys, map[string]map[string]any{user: {device: content}}); err != nil {
				e.cfg.Log.Warn("echo: mirroring the caller's media key", "room", r.RoomID, "err", err)
			}
		},
	})
}

// splitIdentity splits a "@user:server:DEVICE" identity at its last colon.
func splitIdentity(identity string) (user, device string, ok bool) {
	i := strings.LastIndexByte(identity, ':')
	if i <= 0 || i == len(identity)-1 || !strings.HasPrefix(identity, "@") {
		return "", "", false
	}
	return identity[:i], identity[i+1:], true
}

// OnToDevice hands a decrypted to-device event (a caller's media key) to
// the echo's calls in encrypted rooms.
func (e *RTCEcho) OnToDevice(ev matrixrtc.ToDeviceEvent) {
	e.mu.Lock()
	var keys []*matrixrtc.KeyManager
	for _, c := range e.calls {
		if c.keys != nil {
			keys = append(keys, c.keys)
		}
	}
	e.mu.Unlock()
	for _, k := range keys { // outside the lock: Handle may wait for room in the manager's queue
		k.Handle(ev)
	}
}

// OnMembers makes the echo leave a call once its caller is no longer in
// it.
func (e *RTCEcho) OnMembers(roomID string, ms []matrixrtc.Membership) {
	e.mu.Lock()
	c := e.calls[roomID]
	e.mu.Unlock()
	if c == nil {
		return
	}
	for _, m := range ms {
		if m.Sender == c.ring.Sender {
			return
		}
	}
	c.end()
}

// Close leaves every call and waits until each is left. It is idempotent.
func (e *RTCEcho) Close() error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.stop)
		for _, c := range e.calls {
			c.cancel()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}
