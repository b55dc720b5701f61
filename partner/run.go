package partner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mxcall/mxcall/callengine"
	"github.com/mxcall/mxcall/matrixclient"
	"github.com/mxcall/mxcall/matrixrtc"
)

var (
	// ErrNoCredentials means neither a password nor a stored session was given.
	ErrNoCredentials = errors.New("partner: no password and no stored session")
	// ErrClosed means the echo is closed or has no engine yet.
	ErrClosed = errors.New("partner: echo closed or without engine")
)

// Config says how the echo partner logs in.
type Config struct {
	UserID     string
	Password   string // empty: restore the session stored in Keyring
	Homeserver string // empty: discovered from the user ID
	// Keyring stores the session; nil keeps it in memory only.
	Keyring matrixclient.Keyring
	// DataDir keeps the encryption store ("" = the OS config dir).
	DataDir string
	Log     *slog.Logger
	// EngineOptions are added to the call engine's options (tests pass
	// loopback settings here).
	EngineOptions []callengine.Option
	// Ready, if set, is called once the partner is logged in and syncing.
	Ready func(userID string)
	// AnswerAfter lets calls ring this long before the partner answers.
	AnswerAfter time.Duration
	// CallRoom, if set, is a room the partner calls once, as soon as the
	// room can be called (tests of the app as callee).
	CallRoom string
}

// Run logs in, accepts room invites and answers every call with an echo
// of the caller's media, until ctx ends: legacy calls (m.call.invite) and
// MatrixRTC rings (it joins the call, on the caller's focus when the
// homeserver advertises none, and leaves when the caller does).
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := cfg.Keyring
	if k == nil {
		k = matrixclient.NewMemoryKeyring()
	}
	changed := make(chan struct{}, 1)
	mc := matrixclient.New(
		matrixclient.WithKeyring(k),
		matrixclient.WithLogger(log),
		matrixclient.WithDeviceName("mxcall echo"),
		matrixclient.WithDataDir(cfg.DataDir),
		matrixclient.WithOnChange(func(ch matrixclient.Change) {
			if ch == matrixclient.ChangeRooms {
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}),
	)
	defer func() { _ = mc.Close() }()
	switch {
	case cfg.Password != "":
		if err := mc.Login(ctx, cfg.UserID, cfg.Password, cfg.Homeserver); err != nil {
			return fmt.Errorf("partner: login: %w", err)
		}
	default:
		ok, err := mc.Restore(ctx)
		if err != nil {
			return fmt.Errorf("partner: restoring session: %w", err)
		}
		if !ok {
			return ErrNoCredentials
		}
	}

	echo := New(log)
	echo.AnswerAfter = cfg.AnswerAfter
	opts := append([]callengine.Option{
		callengine.WithLogger(log),
		callengine.WithOnUpdate(echo.OnUpdate),
		callengine.WithOnTrack(echo.OnTrack),
		callengine.WithICEServers(mc.ICEServers()),
	}, cfg.EngineOptions...)
	eng, err := callengine.New(mc.UserID(), mc, opts...)
	if err != nil {
		return err
	}
	echo.SetEngine(eng)
	mc.SetCallHandler(eng)
	eng.WarmUp()
	rcfg := RTCConfig{
		Matrix: mc, Log: log, AnswerAfter: cfg.AnswerAfter,
		Encrypted: func(roomID string) bool {
			r, ok := mc.Room(roomID)
			return !ok || r.Encrypted
		},
	}
	if matrixclient.E2EEAvailable {
		rcfg.Keys = mc // encrypted rooms: mirrored media keys, Olm-encrypted
	}
	rtcEcho := NewRTCEcho(rcfg)
	mc.SetToDeviceHandler(rtcEcho.OnToDevice)
	tracker := matrixrtc.NewTracker(matrixrtc.TrackerConfig{
		UserID: mc.UserID(), DeviceID: mc.DeviceID(), Log: log,
		OnRing: rtcEcho.OnRing, OnRingEnded: rtcEcho.OnRingEnded, OnMembers: rtcEcho.OnMembers,
	})
	mc.SetRTCHandler(tracker.Handle)
	if err := mc.Start(ctx); err != nil {
		mc.SetRTCHandler(nil)
		mc.SetToDeviceHandler(nil)
		_ = tracker.Close()
		_ = rtcEcho.Close()
		_ = eng.Close()
		return fmt.Errorf("partner: starting sync: %w", err)
	}
	defer func() {
		// Hang up and leave while the client can still send (encrypted
		// rooms need the crypto machine that Stop closes), then stop
		// syncing.
		mc.SetCallHandler(nil)
		mc.SetRTCHandler(nil)
		mc.SetToDeviceHandler(nil)
		_ = tracker.Close()
		_ = rtcEcho.Close() // leaves MatrixRTC calls
		_ = eng.Close()     // hangs up, closes peer connections
		mc.Stop()
		_ = echo.Close()
	}()
	log.Info("echo partner running", "user", mc.UserID())
	if cfg.Ready != nil {
		cfg.Ready(mc.UserID())
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	toCall := cfg.CallRoom
	for {
		acceptInvites(ctx, mc, log)
		if toCall != "" {
			if peer, err := mc.CallPeer(toCall); err == nil {
				toCall = ""
				id, err := echo.Call(ctx, cfg.CallRoom, peer)
				if err != nil {
					log.Error("echo: calling", "room", cfg.CallRoom, "err", err)
				} else {
					log.Info("echo: calling", "room", cfg.CallRoom, "peer", peer, "call_id", id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func acceptInvites(ctx context.Context, mc *matrixclient.Client, log *slog.Logger) {
	for _, inv := range mc.Invites() {
		if err := mc.AcceptInvite(ctx, inv.RoomID); err != nil {
			log.Warn("accepting invite", "room", inv.RoomID, "err", err)
			continue
		}
		log.Info("joined", "room", inv.RoomID, "inviter", inv.Inviter)
	}
}
