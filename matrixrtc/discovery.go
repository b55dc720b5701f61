package matrixrtc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Discovery paths, tried in this order.
const (
	PathTransports         = "/_matrix/client/v1/rtc/transports"
	PathTransportsUnstable = "/_matrix/client/unstable/org.matrix.msc4143/rtc/transports"
	PathWellKnown          = "/.well-known/matrix/client"
	// maxDiscoveryBody bounds the discovery answers we read.
	maxDiscoveryBody = 64 << 10
)

// Source says where a focus was found.
type Source int

// Focus sources, in the order Discover tries them.
const (
	SourceUnknown Source = iota
	// SourceTransports is GET /_matrix/client/v1/rtc/transports.
	SourceTransports
	// SourceTransportsUnstable is its org.matrix.msc4143 form.
	SourceTransportsUnstable
	// SourceWellKnown is .well-known/matrix/client org.matrix.msc4143.rtc_foci.
	SourceWellKnown
	// SourceMembers is the focus of the call's oldest live member.
	SourceMembers
	// SourceConfigured is the user's or packager's setting.
	SourceConfigured
)

// String names the source.
func (s Source) String() string {
	switch s {
	case SourceTransports:
		return "rtc/transports"
	case SourceTransportsUnstable:
		return "rtc/transports (unstable)"
	case SourceWellKnown:
		return "well-known"
	case SourceMembers:
		return "call members"
	case SourceConfigured:
		return "configured"
	default:
		return "unknown"
	}
}

// Focus is a discovered LiveKit transport and where it came from.
type Focus struct {
	Transport Transport
	Source    Source
}

// Discovery finds the LiveKit focus to publish on.
type Discovery struct {
	// Client sends the requests; nil means http.DefaultClient.
	Client HTTPDoer
	// Configured is the last fallback (e.g. a setting); may be empty.
	Configured []Transport
}

// Discover tries, in order: GET /_matrix/client/v1/rtc/transports, its
// unstable MSC4143 form (both with accessToken as bearer), the homeserver's
// .well-known/matrix/client org.matrix.msc4143.rtc_foci (fetched from
// homeserverURL), the publish transport of the oldest member in live, and
// d.Configured. The first LiveKit transport found wins. When none is found
// it returns ErrNoFocus; a failing step only moves on to the next one,
// except that a done ctx ends the search with ctx's error.
func (d Discovery) Discover(ctx context.Context, homeserverURL, accessToken string, live []Membership) (Focus, error) {
	base := strings.TrimRight(homeserverURL, "/")
	steps := []struct {
		src    Source
		path   string
		bearer string
		field  string
	}{
		{SourceTransports, PathTransports, accessToken, "rtc_transports"},
		{SourceTransportsUnstable, PathTransportsUnstable, accessToken, "rtc_transports"},
		{SourceWellKnown, PathWellKnown, "", "org.matrix.msc4143.rtc_foci"},
	}
	if base != "" {
		for _, st := range steps {
			ts, err := d.fetch(ctx, base+st.path, st.bearer, st.field)
			if err := ctx.Err(); err != nil {
				return Focus{}, err
			}
			if err != nil {
				continue
			}
			if t, ok := firstLiveKit(ts); ok {
				return Focus{Transport: t, Source: st.src}, nil
			}
		}
	}
	for _, m := range live {
		if t, ok := m.PublishTransport(); ok {
			return Focus{Transport: Transport{Type: t.Type, ServiceURL: t.ServiceURL}, Source: SourceMembers}, nil
		}
	}
	if t, ok := firstLiveKit(d.Configured); ok {
		return Focus{Transport: t, Source: SourceConfigured}, nil
	}
	return Focus{}, ErrNoFocus
}

func firstLiveKit(ts []Transport) (Transport, bool) {
	for _, t := range ts {
		if t.IsLiveKit() {
			return Transport{Type: t.Type, ServiceURL: t.ServiceURL}, true
		}
	}
	return Transport{}, false
}

// fetch GETs u and returns the transports in the JSON object's field.
func (d Discovery) fetch(ctx context.Context, u, bearer, field string) ([]Transport, error) {
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	req.Header.Set("Accept", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDiscoveryBody+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) > maxDiscoveryBody {
		return nil, fmt.Errorf("%w: %s: status %d", ErrNoFocus, u, resp.StatusCode)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoFocus, u, err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(obj[field], &raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %w", ErrNoFocus, u, field, err)
	}
	var out []Transport
	for _, r := range raw {
		var t Transport
		if json.Unmarshal(r, &t) == nil { // skip entries of other shapes
			out = append(out, t)
		}
	}
	return out, nil
}
