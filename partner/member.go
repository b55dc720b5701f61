package partner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
)

// ErrMemberEnded means a member's session ended by itself (LiveKit
// disconnected it and it did not get back in).
var ErrMemberEnded = errors.New("partner: the member's MatrixRTC session ended")

// MemberConfig configures a headless MatrixRTC member (RunMember,
// Publish): a device that joins one room's call and publishes the tracks
// it is given, for group-call benchmarks and tests.
type MemberConfig struct {
	// UserID, Password and Homeserver log the member in (RunMember only;
	// Homeserver "" is discovered from the user ID). The session is kept
	// in memory.
	UserID, Password, Homeserver string
	// DataDir keeps the encryption store ("" = the OS config dir).
	DataDir string
	// RoomID is the room whose call the member joins; the user must
	// already be joined to it.
	RoomID string
	// Discovery finds the focus (e.g. Configured: the token service when
	// the homeserver advertises none).
	Discovery matrixrtc.Discovery
	// Tracks are published once connected (e.g. a media.Source's audio
	// and video tracks); the caller closes their source after Publish
	// returns.
	Tracks []webrtc.TrackLocal
	// Intent is m.call.intent ("video" when empty).
	Intent string
	// Joined, if set, is called once the member is in the call.
	Joined func()
	Log    *slog.Logger

	// newSession builds the session (matrixrtc.NewSession; tests fake it).
	newSession func(matrixrtc.SessionConfig) (rtcSession, error)
}

// RunMember logs cfg.UserID in (without syncing: a member needs no room
// events) and runs Publish until ctx ends.
func RunMember(ctx context.Context, cfg MemberConfig) error {
	mc := matrixclient.New(
		matrixclient.WithKeyring(matrixclient.NewMemoryKeyring()),
		matrixclient.WithLogger(cfg.Log),
		matrixclient.WithDeviceName("mxcall member"),
		matrixclient.WithDataDir(cfg.DataDir),
	)
	defer func() { _ = mc.Close() }()
	if err := mc.Login(ctx, cfg.UserID, cfg.Password, cfg.Homeserver); err != nil {
		return fmt.Errorf("partner: member login: %w", err)
	}
	return Publish(ctx, mc, cfg)
}

// Publish joins cfg.RoomID's MatrixRTC call as mx's device, publishes
// cfg.Tracks and stays until ctx ends (nil: then it leaves, membership
// and LiveKit room both) or the session ends by itself (ErrMemberEnded).
// It subscribes to no one: a member only adds a publisher to the call.
func Publish(ctx context.Context, mx matrixrtc.Matrix, cfg MemberConfig) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	newSession := cfg.newSession
	if newSession == nil {
		newSession = func(c matrixrtc.SessionConfig) (rtcSession, error) { return matrixrtc.NewSession(c) }
	}
	intent := cfg.Intent
	if intent == "" {
		intent = "video"
	}
	ended := make(chan error, 1)
	sess, err := newSession(matrixrtc.SessionConfig{
		Matrix: mx, RoomID: cfg.RoomID, Discovery: cfg.Discovery, Intent: intent, Tracks: cfg.Tracks,
		ConnectOptions: memberConnectOptions,
		OnEnded: func(err error) {
			select {
			case ended <- err:
			default:
			}
		},
		Log: log,
	})
	if err != nil {
		return fmt.Errorf("partner: member session: %w", err)
	}
	defer func() { _ = sess.Close() }() // leaves
	jctx, cancel := context.WithTimeout(ctx, rtcJoinTimeout)
	err = sess.Join(jctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil // asked to stop while joining
		}
		return fmt.Errorf("partner: member joining %s: %w", cfg.RoomID, err)
	}
	log.Info("member: in the MatrixRTC call", "room", cfg.RoomID, "user", mx.UserID())
	if cfg.Joined != nil {
		cfg.Joined()
	}
	select {
	case <-ctx.Done():
		log.Info("member: leaving the MatrixRTC call", "room", cfg.RoomID)
		return nil
	case err := <-ended:
		return fmt.Errorf("%w: %w", ErrMemberEnded, err)
	}
}

// memberConnectOptions: a member subscribes to nothing (it would only
// drop what it got), so the SFU forwards it nothing and the machine
// spends nothing on it.
var memberConnectOptions = []lksdk.ConnectOption{lksdk.WithAutoSubscribe(false)}
