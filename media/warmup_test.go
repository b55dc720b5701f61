package media

import (
	"errors"
	"testing"

	"github.com/mxcall/mxcall/media/vpx"
)

// The codec warm-up runs a key frame through the encoder and the decoder,
// and refuses a size the encoder cannot take.
func TestWarmUpCodec(t *testing.T) {
	if err := WarmUpCodec(640, 480); err != nil {
		t.Fatalf("WarmUpCodec(640, 480): %v", err)
	}
	if err := WarmUpCodec(641, 480); !errors.Is(err, vpx.ErrInit) {
		t.Fatalf("WarmUpCodec(641, 480) = %v, want vpx.ErrInit", err)
	}
}
