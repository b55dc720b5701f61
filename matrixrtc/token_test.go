package matrixrtc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSFUGet(t *testing.T) {
	tok := OpenIDToken{AccessToken: "at", TokenType: "Bearer", MatrixServerName: "example.org", ExpiresIn: "3600"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/livekit/jwt/sfu/get" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		// lk-jwt-service rejects unknown fields: send exactly these.
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		var req sfuGetRequest
		if err := dec.Decode(&req); err != nil {
			t.Error(err)
		}
		if req.Room != roomID || req.DeviceID != "ALICEDEV" || req.OpenIDToken != tok {
			t.Errorf("request %+v", req)
		}
		_, _ = w.Write([]byte(`{"url":"wss://sfu.example","jwt":"eyJ"}`))
	}))
	defer srv.Close()
	c, err := SFUGet(context.Background(), srv.Client(), srv.URL+"/livekit/jwt/", roomID, tok, "ALICEDEV")
	if err != nil {
		t.Fatal(err)
	}
	if c.URL != "wss://sfu.example" || c.JWT != "eyJ" {
		t.Errorf("credentials %+v", c)
	}
}

func TestSFUGetErrors(t *testing.T) {
	tok := OpenIDToken{AccessToken: "at"}
	tests := []struct {
		status int
		body   string
		want   error
	}{
		{401, `{"errcode":"M_UNAUTHORIZED","error":"x"}`, ErrTokenRefused},
		{400, `{"errcode":"M_BAD_JSON"}`, ErrTokenRequest},
		{400, `{"errcode":"M_NOT_JSON"}`, ErrTokenRequest},
		{500, `{"errcode":"M_UNKNOWN"}`, ErrTokenService},
		{404, `<html>`, ErrTokenService},
		{200, `{"url":"wss://x"}`, ErrTokenService},
		{200, `{"url":"javascript:x","jwt":"j"}`, ErrTokenService},
		{200, `not json`, ErrTokenService},
		{200, `{"url":"wss://x","jwt":"` + strings.Repeat("a", maxTokenBody) + `"}`, ErrTokenService},
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		}))
		_, err := SFUGet(context.Background(), srv.Client(), srv.URL, roomID, tok, "D")
		srv.Close()
		if !errors.Is(err, tt.want) {
			t.Errorf("%d %.40s: err %v, want %v", tt.status, tt.body, err, tt.want)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	if _, err := SFUGet(context.Background(), nil, u, roomID, tok, "D"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed server: %v", err)
	}
	for _, args := range [][3]string{{"ftp://x", roomID, "D"}, {u, "", "D"}, {u, roomID, ""}} {
		if _, err := SFUGet(context.Background(), nil, args[0], args[1], tok, args[2]); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%q: %v", args, err)
		}
	}
}
