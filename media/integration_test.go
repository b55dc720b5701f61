//go:build integration

package media

// Integration tests with a real sound server: run through
// scripts/test-media.sh, which starts a private PipeWire with a virtual
// speaker (vspk) and a virtual microphone (vmic).

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

func needPipeWire(t *testing.T) {
	t.Helper()
	if os.Getenv("MXCALL_PIPEWIRE") == "" {
		t.Fatal("run through scripts/test-media.sh (needs its PipeWire)")
	}
}

func toneBytes(freq float64, seconds float64) []byte {
	tn := tone{freq: freq, amp: 0.3}
	pcm := make([]int16, int(seconds*sampleRate))
	tn.fill(pcm)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, pcm)
	return b.Bytes()
}

func TestIntegrationPlayerPlaysTone(t *testing.T) {
	needPipeWire(t)
	var speakers int
	for _, d := range ListDevices() {
		if d.Kind == DeviceSpeaker {
			speakers++
			t.Logf("speaker %q id=%s default=%v", d.Label, d.ID, d.Default)
		}
	}
	if speakers == 0 {
		t.Fatal("no speaker listed")
	}
	p, err := NewPlayer("")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Fallback() {
		t.Fatal("player fell back with PipeWire running")
	}
	rec := exec.Command("parec", "-d", "vspk.monitor", "--latency-msec=20", "--raw", "--format=s16le", "--rate=48000", "--channels=1")
	var out bytes.Buffer
	rec.Stdout = &out
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	tn := tone{freq: 660, amp: 0.3}
	pcm := make([]int16, frameSamples)
	tick := time.NewTicker(audioFrameTime)
	for range 100 { // 2 s, paced like network audio
		<-tick.C
		tn.fill(pcm)
		p.WriteAudio(pcm)
	}
	tick.Stop()
	time.Sleep(200 * time.Millisecond)
	_ = rec.Process.Kill()
	_ = rec.Wait()
	got := make([]int16, out.Len()/2)
	_ = binary.Read(bytes.NewReader(out.Bytes()[:len(got)*2]), binary.LittleEndian, got)
	// Keep the loud part.
	var loud []int16
	for _, s := range got {
		if len(loud) > 0 || math.Abs(float64(s)) > 3000 {
			loud = append(loud, s)
		}
	}
	if len(loud) < sampleRate/2 {
		t.Fatalf("recorded only %d loud samples of %d", len(loud), len(got))
	}
	f := frequency(loud[:sampleRate/2])
	t.Logf("speaker monitor: %.2f Hz over %d samples", f, len(loud))
	if math.Abs(f-660)/660 > 0.02 {
		t.Errorf("played %.2f Hz, want 660 ± 2%%", f)
	}
}

func TestIntegrationMicrophoneOverLoopback(t *testing.T) {
	needPipeWire(t)
	defer test.TimeOut(60 * time.Second).Stop()
	feed := exec.Command("pacat", "-d", "vmic", "--raw", "--format=s16le", "--rate=48000", "--channels=1")
	feed.Stdin = bytes.NewReader(toneBytes(550, 20))
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = feed.Process.Kill(); _ = feed.Wait() }()

	src, err := NewSource(WithTestPattern())
	if err != nil {
		t.Fatal(err)
	}
	p := newPair(t, src, nil)
	defer p.close(t)
	as := waitSink(t, p.audio)
	waitFor(t, "microphone open", src.MicrophoneOpen)
	if src.AudioFallback() {
		t.Error("AudioFallback with a microphone")
	}
	time.Sleep(2 * time.Second)
	s := p.pcm.samples()
	var loud []int16
	for _, v := range s {
		if len(loud) > 0 || math.Abs(float64(v)) > 3000 {
			loud = append(loud, v)
		}
	}
	if len(loud) < sampleRate/2 {
		t.Fatalf("only %d loud samples of %d received", len(loud), len(s))
	}
	f := frequency(loud[:sampleRate/2])
	t.Logf("microphone → Opus → loopback → decode: %.2f Hz", f)
	if math.Abs(f-550)/550 > 0.02 {
		t.Errorf("got %.2f Hz, want 550 ± 2%%", f)
	}
	src.SetAudioMuted(true)
	waitFor(t, "microphone released on mute", func() bool { return !src.MicrophoneOpen() })
	src.SetAudioMuted(false)
	waitFor(t, "microphone reopened", src.MicrophoneOpen)
	p.close(t)
	as.Close()
	if src.MicrophoneOpen() {
		t.Error("microphone open after Close")
	}
}

// TestIntegrationEchoCancellation plays speech-like noise on the virtual
// speaker and records the "room" (scripts/test-media.sh: the speaker's
// sound reaches it 60 ms later, as through air and converters) as the
// microphone, at full level — a worst-case room — with and without the
// in-app canceller, and compares what the microphone delivers.
//
// Known issue: in about one run of six the canceller does not converge in
// this setup (ERLE 2–6 dB instead of 20–26 dB), so the test runs only with
// MXCALL_AEC_PIPEWIRE=1 until that is understood; TestEchoCanceller checks
// the canceller itself on every run.
func TestIntegrationEchoCancellation(t *testing.T) {
	if os.Getenv("MXCALL_AEC_PIPEWIRE") != "1" {
		t.Skip("converges in only ~5 of 6 runs through PipeWire: set MXCALL_AEC_PIPEWIRE=1 to run it")
	}
	needPipeWire(t)
	var monitor string
	for _, d := range ListDevices() {
		if d.Kind == DeviceMicrophone && bytes.Contains([]byte(d.Label), []byte("vroom")) {
			monitor = d.ID
			t.Logf("echo path: %q", d.Label)
		}
	}
	if monitor == "" {
		t.Fatal("no monitor of vroom among microphones")
	}
	defer SetEchoCancellation(true)
	run := func(on bool) float64 {
		SetEchoCancellation(on)
		m, err := openMic(monitor)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPlayer("")
		if err != nil || p.Fallback() {
			t.Fatal("no player", err)
		}
		var got []int16
		done := make(chan struct{})
		go func() {
			defer close(done)
			for f := range m.frames {
				got = append(got, f...)
			}
		}()
		rnd := newSpeechLike(1)
		pcm := make([]int16, frameSamples)
		tick := time.NewTicker(audioFrameTime)
		for range 300 { // 6 s
			<-tick.C
			rnd.fill(pcm)
			p.WriteAudio(pcm)
		}
		tick.Stop()
		p.Close()
		m.close()
		close(m.frames)
		<-done
		if len(got) < 5*sampleRate {
			t.Fatalf("captured only %d samples", len(got))
		}
		tail := got[len(got)-3*sampleRate : len(got)-sampleRate/2]
		return energy(tail)
	}
	off := run(false)
	on := run(true)
	erle := 10 * math.Log10(off/math.Max(on, 1))
	t.Logf("echo energy without canceller %.0f, with %.0f: ERLE %.1f dB", off, on, erle)
	if off < 1e5 {
		t.Fatalf("the monitor heard almost nothing (%.0f)", off)
	}
	if erle < 10 {
		t.Errorf("ERLE %.1f dB through PipeWire, want ≥ 10", erle)
	}
}
