package backend

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"

	"maunium.net/go/mautrix"

	"github.com/mxcall/mxcall/assets"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/ui"
)

func TestUIErr(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"bad user ID", fmt.Errorf("%w: %q", matrixclient.ErrInvalidUserID, "bob"), ui.ErrInvalidUserID},
		{"wrong password", fmt.Errorf("%w: %w", matrixclient.ErrLogin, mautrix.MForbidden), ui.ErrBadCredentials},
		{"server down", fmt.Errorf("%w: %w", matrixclient.ErrLogin, netErr), ui.ErrUnreachable},
		{"not matrix", fmt.Errorf("%w: no versions", matrixclient.ErrDiscovery), ui.ErrNotMatrix},
	}
	for _, tc := range tests {
		if got := uiErr(tc.in); !errors.Is(got, tc.want) {
			t.Errorf("%s: %v does not wrap %v", tc.name, got, tc.want)
		}
	}
	if uiErr(nil) != nil {
		t.Error("nil error mapped to non-nil")
	}
	other := errors.New("other")
	if !errors.Is(uiErr(other), other) {
		t.Error("unknown errors must pass through")
	}
}

func wav(rate uint32, samples []int16) []byte {
	var b bytes.Buffer
	data := new(bytes.Buffer)
	_ = binary.Write(data, binary.LittleEndian, samples)
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), rate, rate * 2, uint16(2), uint16(16)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func TestDecodeWAV(t *testing.T) {
	pcm, err := decodeWAV(wav(16000, []int16{1, -2, 3}))
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{1, 1, 1, -2, -2, -2, 3, 3, 3}
	if fmt.Sprint(pcm) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", pcm, want)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF....WAVE"), wav(44100, []int16{1})} {
		if _, err := decodeWAV(bad); !errors.Is(err, errNotWAV) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
	for name, w := range map[string][]byte{"ringtone": assets.Ringtone.Content(), "ringback": assets.Ringback.Content()} {
		if pcm, err := decodeWAV(w); err != nil || len(pcm) < playRate/10 {
			t.Errorf("bundled %s: %d samples, %v", name, len(pcm), err)
		}
	}
}

func TestSubscribers(t *testing.T) {
	var s subscribers[int]
	var a, b []int
	cancelA := s.add(func(v int) { a = append(a, v) })
	s.add(func(v int) { b = append(b, v) })
	s.send(1)
	cancelA()
	s.send(2)
	if fmt.Sprint(a) != "[1]" || fmt.Sprint(b) != "[1 2]" {
		t.Errorf("a=%v b=%v", a, b)
	}
}

func TestSlotAdapterWithoutFrames(t *testing.T) {
	if _, _, ok := newFrameSource().FrameInto(nil, 0); ok {
		t.Error("a frame source with no sink yielded a frame")
	}
}
