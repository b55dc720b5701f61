package backend

// Stand-ins for the screen-sharing methods of ui.Calls and ui.Media that
// other branches implement (the legacy-call side: scr-engine; screen
// capture and the source list: scr-capture). Delete this file when those
// land, keeping the MatrixRTC dispatch (b.rtc.…) of each method.

import (
	"context"
	"errors"
	"fmt"
	"image"

	"github.com/mxcall/mxcall/ui"
)

// ErrScreenshareNotSupported is what the stand-ins return for what is not
// implemented on this branch.
var ErrScreenshareNotSupported = errors.New("screen sharing is not supported in this build yet")

// StartScreenshare shares sourceID in callID: in a MatrixRTC call as a
// LiveKit screen-share track; legacy calls are not supported here yet.
func (b *Backend) StartScreenshare(ctx context.Context, callID, sourceID string) error {
	if b.rtc.has(callID) {
		return b.rtc.startScreenshare(ctx, callID, sourceID)
	}
	return fmt.Errorf("backend: share in %s: %w", callID, ErrScreenshareNotSupported)
}

// StopScreenshare stops sharing in callID.
func (b *Backend) StopScreenshare(ctx context.Context, callID string) error {
	if b.rtc.has(callID) {
		return b.rtc.stopScreenshare(ctx, callID)
	}
	return nil
}

// ScreenSources lists what can be shared: until screen capture lands,
// the one stand-in source of the MatrixRTC calls (rtcScreenSource).
func (b *Backend) ScreenSources(context.Context) ([]ui.ScreenSource, error) {
	return []ui.ScreenSource{{ID: testScreenID, Title: "Test pattern (screen capture not built in yet)"}}, nil
}

// ScreenThumbnail has no pictures to give yet.
func (b *Backend) ScreenThumbnail(context.Context, string, int) (*image.RGBA, error) {
	return nil, ErrScreenshareNotSupported
}

// RemoteScreen is nil for legacy calls (their shares are not decoded
// here yet); MatrixRTC calls show shares as tiles of their own.
func (b *Backend) RemoteScreen(callID string) ui.FrameSource {
	return nil
}
