// Command mxcall-rtc-auth is a MatrixRTC authorisation service for a LiveKit
// SFU (the API of Element's lk-jwt-service; see package rtcauth): MatrixRTC
// clients trade an OpenID token from their homeserver for a LiveKit token.
// Run it next to livekit-server, behind the same TLS reverse proxy, and
// publish its URL as the livekit_service_url of your MatrixRTC transport.
//
//	mxcall-rtc-auth -listen 127.0.0.1:8080 -livekit-url wss://rtc.example.org \
//	    -livekit-key KEY -livekit-secret-file /etc/livekit/secret \
//	    -homeservers example.org,friends.example
//
// Every flag can also come from the environment (flags win): LIVEKIT_URL,
// LIVEKIT_KEY, LIVEKIT_SECRET, LIVEKIT_SECRET_FILE, MXCALL_RTC_HOMESERVERS,
// MXCALL_RTC_LISTEN, MXCALL_RTC_TOKEN_TTL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mxcall/mxcall/rtcauth"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mxcall-rtc-auth:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("mxcall-rtc-auth", flag.ContinueOnError)
	listen := fs.String("listen", env("MXCALL_RTC_LISTEN", "127.0.0.1:8080"), "address to listen on (host:port)")
	lkURL := fs.String("livekit-url", env("LIVEKIT_URL", ""), "the SFU's WebSocket URL given to clients (ws:// or wss://)")
	key := fs.String("livekit-key", env("LIVEKIT_KEY", ""), "LiveKit API key")
	secret := fs.String("livekit-secret", env("LIVEKIT_SECRET", ""), "LiveKit API secret (prefer -livekit-secret-file)")
	secretFile := fs.String("livekit-secret-file", env("LIVEKIT_SECRET_FILE", ""), "file holding the LiveKit API secret")
	servers := fs.String("homeservers", env("MXCALL_RTC_HOMESERVERS", ""),
		"comma-separated allow-list: NAME (discovered), NAME=URL (federation API base URL) or * (any homeserver)")
	ttlText := fs.String("token-ttl", env("MXCALL_RTC_TOKEN_TTL", rtcauth.DefaultTokenTTL.String()), "validity of LiveKit tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return err
		}
		*secret = strings.TrimSpace(string(b))
	}
	ttl, err := time.ParseDuration(*ttlText)
	if err != nil {
		return fmt.Errorf("-token-ttl: %w", err)
	}
	verifier, err := rtcauth.NewFederationVerifier(strings.Split(*servers, ","), nil)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := rtcauth.NewHandler(rtcauth.Config{
		LiveKitURL: *lkURL, APIKey: *key, APISecret: *secret,
		Verifier: verifier, TokenTTL: ttl, Logger: log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("mxcall-rtc-auth: listening", "addr", ln.Addr().String(), "livekit", *lkURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
