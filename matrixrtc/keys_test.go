package matrixrtc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/test"
)

// fakeToDevice records what a KeyManager sends: one entry per send,
// "index:user/device,user/device" sorted.
type fakeToDevice struct {
	mu   sync.Mutex
	sent chan string
	keys map[int]string // index → key, as sent
	fail bool
}

func newFakeToDevice() *fakeToDevice {
	return &fakeToDevice{sent: make(chan string, 32), keys: map[int]string{}}
}

func (f *fakeToDevice) SendToDevice(_ context.Context, evType string, msgs map[string]map[string]any) error {
	if evType != TypeEncryptionKeys {
		return fmt.Errorf("type %q", evType)
	}
	if f.fail {
		return errors.New("homeserver down")
	}
	var to []string
	index := -1
	for u, devs := range msgs {
		for d, c := range devs {
			to = append(to, u+"/"+d)
			b, _ := json.Marshal(c)
			var parsed struct {
				Keys struct {
					Index int    `json:"index"`
					Key   string `json:"key"`
				} `json:"keys"`
				RoomID string `json:"room_id"`
				Member struct {
					Claimed string `json:"claimed_device_id"`
				} `json:"member"`
				Session struct {
					Application string `json:"application"`
				} `json:"session"`
				SentTS int64 `json:"sent_ts"`
			}
			if err := json.Unmarshal(b, &parsed); err != nil || parsed.RoomID != roomID || parsed.Member.Claimed != "BOBDEV" ||
				parsed.Session.Application != ApplicationCall || parsed.SentTS == 0 {
				return fmt.Errorf("bad content %s", b)
			}
			index = parsed.Keys.Index
			f.mu.Lock()
			f.keys[index] = parsed.Keys.Key
			f.mu.Unlock()
		}
	}
	sort.Strings(to)
	f.sent <- fmt.Sprintf("%d:%s", index, strings.Join(to, ","))
	return nil
}

func member(user, device string, created time.Time) Membership {
	return Membership{Sender: user, DeviceID: device, Created: created, Slot: SlotRoom}
}

type localKey struct {
	index uint8
	key   string
	at    time.Time
}

func newKeyManager(t *testing.T, f *fakeToDevice, reuse time.Duration) (*KeyManager, chan localKey, chan string) {
	t.Helper()
	local, remote := make(chan localKey, 16), make(chan string, 16)
	k, err := NewKeyManager(KeyConfig{Send: f, RoomID: roomID, UserID: bob, DeviceID: "BOBDEV", UseDelay: 200 * time.Millisecond, ReuseWindow: reuse,
		OnLocalKey:  func(i uint8, key []byte) { local <- localKey{i, base64.StdEncoding.EncodeToString(key), time.Now()} },
		OnRemoteKey: func(id string, i uint8, key []byte) { remote <- fmt.Sprintf("%s %d %x", id, i, key) }})
	if err != nil {
		t.Fatal(err)
	}
	return k, local, remote
}

func TestKeyManagerSendsAndRotatesAsElementCallDoes(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newFakeToDevice()
	k, local, _ := newKeyManager(t, f, time.Hour)
	defer k.Close()
	t0 := time.Now()
	me := member(bob, "BOBDEV", t0)
	alice1 := member(alice, "ALICEDEV", t0)

	// First key: used at once, sent to everyone but us.
	k.SetMembers([]Membership{me, alice1})
	if got := next(t, local, "first key"); got.index != 0 || len(got.key) == 0 {
		t.Fatalf("first local key = %+v", got)
	}
	if got := next(t, f.sent, "first send"); got != "0:"+alice+"/ALICEDEV" {
		t.Fatalf("first send = %q", got)
	}
	first := f.keys[0]

	// A join while the key is young: the current key, to the joiner only.
	carol := member("@carol:example.org", "C", t0)
	k.SetMembers([]Membership{me, alice1, carol})
	if got := next(t, f.sent, "send to joiner"); got != "0:@carol:example.org/C" {
		t.Fatalf("send on join = %q", got)
	}
	none(t, local, "key switch on a young join")

	// A leave: a new key to everyone left, used after the delay.
	k.SetMembers([]Membership{me, carol})
	sent := time.Now()
	if got := next(t, f.sent, "send after leave"); got != "1:@carol:example.org/C" {
		t.Fatalf("send on leave = %q", got)
	}
	got := next(t, local, "rotated key")
	if got.index != 1 || got.key == first || got.key != f.keys[1] {
		t.Fatalf("rotated key = %+v (first %q, sent %q)", got, first, f.keys[1])
	}
	if d := got.at.Sub(sent); d < 150*time.Millisecond {
		t.Fatalf("switched to the new key %v after sending it, want the use delay", d)
	}

	// A rejoin (changed created_ts) counts as a join; nothing for an
	// unchanged list.
	k.SetMembers([]Membership{me, carol})
	none(t, f.sent, "send for an unchanged list")
	k.SetMembers([]Membership{me, member("@carol:example.org", "C", t0.Add(time.Second))})
	if got := next(t, f.sent, "send on rejoin"); got != "1:@carol:example.org/C" {
		t.Fatalf("send on rejoin = %q", got)
	}
}

func TestKeyManagerRotatesOnAJoinAfterTheReuseWindow(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newFakeToDevice()
	k, local, _ := newKeyManager(t, f, 50*time.Millisecond)
	defer k.Close()
	t0 := time.Now()
	k.SetMembers([]Membership{member(alice, "ALICEDEV", t0)})
	next(t, local, "first key")
	next(t, f.sent, "first send")
	time.Sleep(100 * time.Millisecond)
	k.SetMembers([]Membership{member(alice, "ALICEDEV", t0), member("@carol:example.org", "C", t0)})
	if got := next(t, f.sent, "send"); got != "1:"+alice+"/ALICEDEV,@carol:example.org/C" {
		t.Fatalf("send on a late join = %q", got)
	}
	if got := next(t, local, "rotated key"); got.index != 1 {
		t.Fatalf("local key = %+v", got)
	}
}

func TestKeyManagerTakesKeysOnlyFromTheirOwnDevice(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newFakeToDevice()
	k, _, remote := newKeyManager(t, f, time.Hour)
	defer k.Close()
	keyEv := func(sender, device, content string) ToDeviceEvent {
		return ToDeviceEvent{Sender: sender, SenderDevice: device, Type: TypeEncryptionKeys, Content: json.RawMessage(content)}
	}
	good := `{"keys":{"index":3,"key":"AAECAwQFBgcICQoLDA0ODw=="},"room_id":"` + roomID + `","member":{"claimed_device_id":"ALICEDEV","id":"uuid"},"session":{"application":"m.call","call_id":"","scope":"m.room"},"sent_ts":1}`
	for _, ev := range []ToDeviceEvent{
		keyEv(alice, "OTHERDEV", good), // claims a device the Olm session is not
		keyEv(alice, "ALICEDEV", strings.Replace(good, roomID, "!other:example.org", 1)),
		keyEv(alice, "ALICEDEV", strings.Replace(good, `"index":3`, `"index":256`, 1)),
		keyEv(alice, "ALICEDEV", strings.Replace(good, `"index":3`, `"index":"3"`, 1)),
		keyEv(alice, "ALICEDEV", strings.Replace(good, `"index":3`, `"index":1.5`, 1)),
		keyEv(alice, "ALICEDEV", strings.Replace(good, `AAECAwQFBgcICQoLDA0ODw==`, `!!`, 1)),
		keyEv(alice, "ALICEDEV", `{"keys":[{"index":0,"key":"AAEC"}],"device_id":"ALICEDEV","call_id":"","sent_ts":1}`), // the removed room-event form
		keyEv(alice, "ALICEDEV", `[`),
		{Sender: alice, SenderDevice: "ALICEDEV", Type: "m.room_key", Content: json.RawMessage(good)},
		keyEv(bob, "BOBDEV", strings.Replace(good, "ALICEDEV", "BOBDEV", 1)), // our own
	} {
		k.Handle(ev)
	}
	k.Handle(keyEv(alice, "ALICEDEV", strings.Replace(good, "AAECAwQFBgcICQoLDA0ODw==", "AAECAwQFBgcICQoLDA0ODw", 1))) // unpadded
	if got := next(t, remote, "remote key"); got != alice+":ALICEDEV 3 000102030405060708090a0b0c0d0e0f" {
		t.Fatalf("remote key = %q", got)
	}
	none(t, remote, "another remote key")
}

func TestKeyManagerSurvivesAFailingSend(t *testing.T) {
	defer test.CheckRoutines(t)()
	f := newFakeToDevice()
	f.fail = true
	k, local, _ := newKeyManager(t, f, time.Hour)
	defer k.Close()
	k.SetMembers([]Membership{member(alice, "ALICEDEV", time.Now())})
	if got := next(t, local, "first key"); got.index != 0 {
		t.Fatalf("local key = %+v", got)
	}
	none(t, f.sent, "send")
	if _, err := NewKeyManager(KeyConfig{RoomID: roomID}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NewKeyManager without sender: %v", err)
	}
}

func FuzzKeyEvent(f *testing.F) {
	f.Add(`{"keys":{"index":0,"key":"AAEC"},"room_id":"!room:example.org","member":{"claimed_device_id":"D"}}`)
	f.Fuzz(func(t *testing.T, content string) {
		_, _, _, _ = parseKeyEvent(ToDeviceEvent{Sender: alice, SenderDevice: "D", Type: TypeEncryptionKeys, Content: json.RawMessage(content)}, roomID)
	})
}
