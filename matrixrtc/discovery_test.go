package matrixrtc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeHS serves the given paths with 200 and the body; others get 404
// M_UNRECOGNIZED. It records the requests and their Authorization headers.
func fakeHS(t *testing.T, bodies map[string]string) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if b, ok := bodies[r.URL.Path]; ok {
			_, _ = w.Write([]byte(b))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errcode":"M_UNRECOGNIZED"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestDiscover(t *testing.T) {
	lk := func(u string) string { return `{"type":"livekit","livekit_service_url":"` + u + `"}` }
	member := Membership{Transports: []Transport{{Type: TransportLiveKit, ServiceURL: "https://member.example/jwt"}}}
	configured := []Transport{{Type: TransportLiveKit, ServiceURL: "https://configured.example/jwt"}}
	tests := []struct {
		name    string
		bodies  map[string]string
		live    []Membership
		wantURL string
		wantSrc Source
	}{
		{"stable", map[string]string{
			PathTransports:         `{"rtc_transports":[` + lk("https://stable.example/jwt") + `]}`,
			PathTransportsUnstable: `{"rtc_transports":[` + lk("https://unstable.example/jwt") + `]}`,
		}, nil, "https://stable.example/jwt", SourceTransports},
		{"unstable", map[string]string{
			PathTransportsUnstable: `{"rtc_transports":[{"type":"other"},` + lk("https://unstable.example/jwt") + `]}`,
			PathWellKnown:          `{"org.matrix.msc4143.rtc_foci":[` + lk("https://wk.example/jwt") + `]}`,
		}, nil, "https://unstable.example/jwt", SourceTransportsUnstable},
		{"well-known", map[string]string{
			PathTransports: `{"rtc_transports":[]}`,
			PathWellKnown:  `{"m.homeserver":{"base_url":"x"},"org.matrix.msc4143.rtc_foci":[7,` + lk("https://wk.example/jwt") + `]}`,
		}, []Membership{member}, "https://wk.example/jwt", SourceWellKnown},
		{"members", map[string]string{
			PathTransports: `not json`,
			PathWellKnown:  `{"org.matrix.msc4143.rtc_foci":[` + lk("ftp://bad") + `]}`,
		}, []Membership{{}, member}, "https://member.example/jwt", SourceMembers},
		{"configured", map[string]string{PathWellKnown: `{"m.homeserver":{}}`}, nil, "https://configured.example/jwt", SourceConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fakeHS(t, tt.bodies)
			f, err := Discovery{Client: srv.Client(), Configured: configured}.Discover(context.Background(), srv.URL+"/", "tok", tt.live)
			if err != nil {
				t.Fatal(err)
			}
			if f.Transport.ServiceURL != tt.wantURL || f.Source != tt.wantSrc || f.Transport.Type != TransportLiveKit {
				t.Errorf("got %+v (%v), want %s from %v", f.Transport, f.Source, tt.wantURL, tt.wantSrc)
			}
		})
	}
}

func TestDiscoverOrderAndAuth(t *testing.T) {
	srv, seen := fakeHS(t, nil)
	_, err := Discovery{Client: srv.Client()}.Discover(context.Background(), srv.URL, "secret", nil)
	if !errors.Is(err, ErrNoFocus) {
		t.Fatalf("err %v, want ErrNoFocus", err)
	}
	want := []string{PathTransports + " Bearer secret", PathTransportsUnstable + " Bearer secret", PathWellKnown + " "}
	if strings.Join(*seen, "|") != strings.Join(want, "|") {
		t.Errorf("requests %q, want %q", *seen, want)
	}
	if msg := err.Error(); msg != "this homeserver has no MatrixRTC (Element Call) service configured" || strings.Contains(msg, "MISSING") {
		t.Errorf("message %q", msg)
	}
}

func TestDiscoverUnreachableAndCancelled(t *testing.T) {
	srv, _ := fakeHS(t, nil)
	url := srv.URL
	srv.Close()
	conf := []Transport{{Type: TransportLiveKit, ServiceURL: "http://127.0.0.1:1/jwt"}}
	f, err := Discovery{Configured: conf}.Discover(context.Background(), url, "", nil)
	if err != nil || f.Source != SourceConfigured {
		t.Errorf("unreachable homeserver: %+v %v, want the configured focus", f, err)
	}
	// A homeserver that never answers: the caller's context ends the search.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { cancel(); <-block }))
	defer slow.Close()
	defer close(block)
	if _, err := (Discovery{Client: slow.Client(), Configured: conf}).Discover(ctx, slow.URL, "", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want Canceled", err)
	}
}
