package media

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/gen2brain/malgo"
)

// Audio format used everywhere in this package: 48 kHz mono signed 16-bit.
const (
	sampleRate     = 48000
	frameSamples   = sampleRate / 50 // 20 ms
	audioFrameTime = 20 * time.Millisecond
)

var (
	audioOnce sync.Once
	audioCtx  *malgo.AllocatedContext
	audioErr  error
)

// audioContext returns the process-wide miniaudio context, restricted to
// real backends (realAudioBackends, per OS): miniaudio's "null" backend
// would pretend a device exists.
func audioContext() (*malgo.AllocatedContext, error) {
	audioOnce.Do(func() {
		quietAudioBackend()
		audioCtx, audioErr = malgo.InitContext(realAudioBackends, malgo.ContextConfig{}, nil)
		if audioErr != nil {
			audioErr = fmt.Errorf("%w: %w", ErrNoAudioDevice, audioErr)
		}
	})
	return audioCtx, audioErr
}

func audioDevices(kind malgo.DeviceType) []malgo.DeviceInfo {
	ctx, err := audioContext()
	if err != nil {
		return nil
	}
	devs, err := ctx.Devices(kind)
	if err != nil {
		return nil
	}
	return devs
}

// findAudioDevice resolves id ("" = default) to a device ID pointer for
// malgo (nil = default).
func findAudioDevice(kind malgo.DeviceType, id string) (*malgo.DeviceID, error) {
	if id == "" {
		return nil, nil
	}
	for _, d := range audioDevices(kind) {
		if d.ID.String() == id {
			did := d.ID
			return &did, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoDevice, id)
}

// openAudioDevice opens a 48 kHz mono S16 capture or playback device with
// 10 ms periods; data is called on miniaudio's thread.
func openAudioDevice(kind malgo.DeviceType, id *malgo.DeviceID, data malgo.DataProc) (*malgo.Device, error) {
	ctx, err := audioContext()
	if err != nil {
		return nil, err
	}
	cfg := malgo.DefaultDeviceConfig(kind)
	cfg.SampleRate = sampleRate
	cfg.PeriodSizeInMilliseconds = 10
	cfg.PerformanceProfile = malgo.LowLatency
	if kind == malgo.Capture {
		cfg.Capture.Format = malgo.FormatS16
		cfg.Capture.Channels = 1
		if id != nil {
			cfg.Capture.DeviceID = id.Pointer()
		}
	} else {
		cfg.Playback.Format = malgo.FormatS16
		cfg.Playback.Channels = 1
		if id != nil {
			cfg.Playback.DeviceID = id.Pointer()
		}
	}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: data})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoAudioDevice, err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, fmt.Errorf("%w: %w", ErrNoAudioDevice, err)
	}
	return dev, nil
}

// AudioOutput consumes decoded audio: 48 kHz mono int16. WriteAudio must
// not block and must not keep pcm.
type AudioOutput interface {
	WriteAudio(pcm []int16)
}

// Player plays audio on a sound device through miniaudio (malgo) with a
// small jitter buffer: playback starts once 40 ms are buffered, and the
// buffer is trimmed back to that when it grows past 200 ms, so latency
// stays bounded while network jitter is absorbed. With no sound device the
// Player discards audio and Fallback reports true; it never fails for
// that reason.
type Player struct {
	mu       sync.Mutex
	ring     []int16
	r, n     int
	playing  bool
	prefill  int
	maxFill  int
	dev      *malgo.Device
	fallback bool
	closed   bool
	under    int
	played   []int16 // what the last callback played, for the echo canceller
}

// NewPlayer opens the output device with the given ID ("" = default, IDs
// from ListDevices). An unknown ID is ErrNoDevice; an unusable sound
// system gives a discarding Player with Fallback() true.
func NewPlayer(deviceID string) (*Player, error) {
	p := &Player{ring: make([]int16, sampleRate), prefill: 2 * frameSamples, maxFill: 10 * frameSamples,
		played: make([]int16, 0, sampleRate/10)}
	id, err := findAudioDevice(malgo.Playback, deviceID)
	if err != nil {
		return nil, err
	}
	dev, err := openAudioDevice(malgo.Playback, id, p.fill)
	if err != nil {
		p.fallback = true
		return p, nil
	}
	p.dev = dev
	return p, nil
}

// Fallback reports whether no sound device could be opened (audio is discarded).
func (p *Player) Fallback() bool { return p.fallback }

// WriteAudio implements AudioOutput.
func (p *Player) WriteAudio(pcm []int16) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.fallback {
		return
	}
	for _, s := range pcm {
		if p.n == len(p.ring) {
			p.r = (p.r + 1) % len(p.ring)
			p.n--
		}
		p.ring[(p.r+p.n)%len(p.ring)] = s
		p.n++
	}
	if p.n > p.maxFill { // too much latency built up: drop the oldest
		drop := p.n - p.prefill
		p.r = (p.r + drop) % len(p.ring)
		p.n -= drop
	}
}

// fill is miniaudio's data callback (S16 mono little-endian output). What
// it plays is also the far end of the echo canceller.
func (p *Player) fill(out, _ []byte, frames uint32) {
	p.mu.Lock()
	if !p.playing && p.n >= p.prefill {
		p.playing = true
	}
	played := p.played[:0]
	for i := 0; i < int(frames) && 2*i+1 < len(out); i++ {
		var s int16
		if p.playing && p.n > 0 {
			s = p.ring[p.r]
			p.r = (p.r + 1) % len(p.ring)
			p.n--
		} else if p.playing {
			p.playing = false // underrun: buffer up again
			p.under++
		}
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
		played = append(played, s)
	}
	p.played = played
	p.mu.Unlock()
	farEnd(played)
}

// Underruns returns how often playback ran dry and re-buffered.
func (p *Player) Underruns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.under
}

// Close stops playback and releases the device. It is idempotent.
func (p *Player) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	dev := p.dev
	p.dev = nil
	p.mu.Unlock()
	if dev != nil {
		dev.Uninit()
	}
	return nil
}

// mic captures 20 ms frames from a capture device. Frames go to a channel
// of capacity 4; when the reader falls behind, frames are dropped rather
// than blocking miniaudio's thread.
type mic struct {
	dev    *malgo.Device
	frames chan []int16
	pool   [8][]int16
	next   int
	cur    []int16
	block  []int16 // 10 ms block for the echo canceller
	aec    *echoCanceller
}

func openMic(deviceID string) (*mic, error) {
	id, err := findAudioDevice(malgo.Capture, deviceID)
	if err != nil {
		return nil, err
	}
	m := &mic{frames: make(chan []int16, 4)}
	for i := range m.pool {
		m.pool[i] = make([]int16, 0, frameSamples)
	}
	m.cur = m.pool[0][:0]
	m.block = make([]int16, 0, aecFrame)
	m.aec = startEcho()
	dev, err := openAudioDevice(malgo.Capture, id, m.data)
	if err != nil {
		stopEcho(m.aec)
		return nil, err
	}
	m.dev = dev
	return m, nil
}

func (m *mic) data(_, in []byte, frames uint32) {
	for i := 0; i+1 < len(in); i += 2 {
		m.block = append(m.block, int16(binary.LittleEndian.Uint16(in[i:])))
		if len(m.block) == aecFrame {
			if m.aec != nil {
				m.aec.capture(m.block)
			}
			m.emit(m.block)
			m.block = m.block[:0]
		}
	}
}

// emit collects 20 ms frames and hands them to the reader.
func (m *mic) emit(pcm []int16) {
	for len(pcm) > 0 {
		n := min(frameSamples-len(m.cur), len(pcm))
		m.cur = append(m.cur, pcm[:n]...)
		pcm = pcm[n:]
		if len(m.cur) == frameSamples {
			select {
			case m.frames <- m.cur:
			default:
			}
			m.next = (m.next + 1) % len(m.pool)
			m.cur = m.pool[m.next][:0]
		}
	}
}

func (m *mic) close() {
	if m.dev != nil {
		m.dev.Uninit()
		m.dev = nil
	}
	stopEcho(m.aec)
	m.aec = nil
}
