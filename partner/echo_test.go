package partner

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/pion/transport/v5/test"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/callengine/calltest"
)

// bus delivers every sent event to every engine, each in order on its own
// goroutine, like a homeserver room.
type bus struct {
	mu      sync.Mutex
	engines []*callengine.Engine
	queues  []chan callengine.RoomEvent
	wg      sync.WaitGroup
}

type busSig struct {
	b    *bus
	user string
}

func (s busSig) SendCallEvent(_ context.Context, roomID, evType string, content any) error {
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for _, q := range s.b.queues {
		q <- callengine.RoomEvent{RoomID: roomID, Sender: s.user, Type: evType, Content: raw, Received: time.Now()}
	}
	return nil
}

func (b *bus) add(e *callengine.Engine) {
	q := make(chan callengine.RoomEvent, 256)
	b.mu.Lock()
	b.engines, b.queues = append(b.engines, e), append(b.queues, q)
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for ev := range q {
			e.HandleEvents(context.Background(), []callengine.RoomEvent{ev})
		}
	}()
}

func (b *bus) close() {
	b.mu.Lock()
	for _, q := range b.queues {
		close(q)
	}
	b.queues = nil
	b.mu.Unlock()
	b.wg.Wait()
}

func loopback() callengine.Option { return callengine.WithSettingEngine(calltest.LoopbackSettings()) }

// newEcho returns an Echo answering as @echo:test on b, with its engine.
func newEcho(t *testing.T, b *bus) (*Echo, *callengine.Engine) {
	t.Helper()
	echo := New(nil)
	eng, err := callengine.New("@echo:test", busSig{b, "@echo:test"}, loopback(),
		callengine.WithOnUpdate(echo.OnUpdate), callengine.WithOnTrack(echo.OnTrack))
	if err != nil {
		t.Fatal(err)
	}
	echo.SetEngine(eng)
	return echo, eng
}

func TestEchoSendsCallerMediaBack(t *testing.T) {
	lim := test.TimeOut(30 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	b := &bus{}
	echo, echoEng := newEcho(t, b)

	var back [2]atomic.Int64 // audio, video packets echoed to the caller
	connected := make(chan string, 4)
	caller, err := callengine.New("@alice:test", busSig{b, "@alice:test"}, loopback(),
		callengine.WithOnUpdate(func(ci callengine.CallInfo) {
			if ci.State == callengine.StateConnected {
				connected <- ci.ID
			}
		}),
		callengine.WithOnTrack(func(rt callengine.RemoteTrack) {
			i := 0
			if rt.Track.Kind() == webrtc.RTPCodecTypeVideo {
				i = 1
			}
			for {
				if _, _, err := rt.Track.ReadRTP(); err != nil {
					return
				}
				back[i].Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	b.add(echoEng)
	b.add(caller)

	tr := calltest.NewTracks(t, "s")
	id, err := caller.PlaceCall(context.Background(), "!r:test", "@echo:test", true, callengine.Media{Audio: tr.Audio, Video: tr.Video})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-connected; got != id {
		t.Fatalf("connected %s, placed %s", got, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for back[0].Load() < 20 || back[1].Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("echoed packets: audio %d, video %d", back[0].Load(), back[1].Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = caller.Hangup(context.Background(), id)
	_ = caller.Close()
	_ = echoEng.Close()
	_ = echo.Close()
	b.close()
	tr.Close()
}

// The echo forgets every call that ended: after many calls in a row it
// keeps no call record, and the tracks it echoed into (with the peer
// connections they were bound to) are unreachable.
func TestEchoReleasesEndedCalls(t *testing.T) {
	lim := test.TimeOut(60 * time.Second)
	defer lim.Stop()
	defer test.CheckRoutines(t)()

	b := &bus{}
	echo, echoEng := newEcho(t, b)
	updates := make(chan callengine.CallInfo, 64)
	var echoed atomic.Int64
	caller, err := callengine.New("@alice:test", busSig{b, "@alice:test"}, loopback(),
		callengine.WithOnUpdate(func(ci callengine.CallInfo) { updates <- ci }),
		callengine.WithOnTrack(func(rt callengine.RemoteTrack) {
			for {
				if _, _, err := rt.Track.ReadRTP(); err != nil {
					return
				}
				echoed.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	b.add(echoEng)
	b.add(caller)
	tr := calltest.NewTracks(t, "s")
	wait := func(id string, s callengine.State) {
		t.Helper()
		for ci := range updates {
			if ci.ID == id && ci.State == s {
				return
			}
			if ci.ID == id && ci.State == callengine.StateEnded {
				t.Fatalf("call ended (%v) while waiting for %v", ci.EndReason, s)
			}
		}
	}

	var kept []weak.Pointer[webrtc.TrackLocalStaticRTP]
	for i := 0; i < 3; i++ {
		id, err := caller.PlaceCall(context.Background(), "!r:test", "@echo:test", true, callengine.Media{Audio: tr.Audio, Video: tr.Video})
		if err != nil {
			t.Fatal(err)
		}
		wait(id, callengine.StateConnected)
		for n := echoed.Load(); echoed.Load() < n+20; {
			time.Sleep(10 * time.Millisecond)
		}
		echo.mu.Lock()
		ec := echo.calls[id]
		echo.mu.Unlock()
		if ec == nil {
			t.Fatalf("call %d: the echo has no record of it", i)
		}
		kept = append(kept, weak.Make(ec.audio), weak.Make(ec.video.TrackLocalStaticRTP))
		ec = nil
		if err := caller.Hangup(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		wait(id, callengine.StateEnded)
		for {
			if ci, ok := echoEng.Call(id); ok && ci.State == callengine.StateEnded {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The echo's engine ends each call on its own goroutine: give its
	// last update a moment to reach the echo.
	for {
		echo.mu.Lock()
		n := len(echo.calls)
		echo.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	for i, w := range kept {
		if w.Value() != nil {
			t.Errorf("call %d: the echo's %s track is still reachable after the call ended", i/2, []string{"audio", "video"}[i%2])
		}
	}
	_ = caller.Close()
	_ = echoEng.Close()
	_ = echo.Close()
	b.close()
	tr.Close()
}
