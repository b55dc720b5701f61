package rtcauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/livekit/protocol/auth"
)

// DefaultTokenTTL is how long a minted LiveKit token is valid.
const DefaultTokenTTL = time.Hour

// Config configures a Handler.
type Config struct {
	// LiveKitURL is the SFU's WebSocket URL handed to clients (ws:// or wss://).
	LiveKitURL string
	// APIKey and APISecret are the SFU's API key pair that tokens are signed with.
	APIKey, APISecret string
	// Verifier checks OpenID tokens; usually a *FederationVerifier.
	Verifier Verifier
	// TokenTTL is the validity of minted tokens (DefaultTokenTTL when 0).
	TokenTTL time.Duration
	// Logger receives one line per request outcome (never a token). Nil: slog.Default().
	Logger *slog.Logger
}

// Handler serves the MatrixRTC authorisation API. Create it with NewHandler.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// Response is the body of a successful /sfu/get or /get_token.
type Response struct {
	URL string `json:"url"`
	JWT string `json:"jwt"`
}

// NewHandler checks cfg and returns the handler.
func NewHandler(cfg Config) (*Handler, error) {
	switch {
	case !strings.HasPrefix(cfg.LiveKitURL, "ws://") && !strings.HasPrefix(cfg.LiveKitURL, "wss://"):
		return nil, fmt.Errorf("%w: LiveKit URL must start with ws:// or wss://", ErrConfig)
	case cfg.APIKey == "" || cfg.APISecret == "":
		return nil, fmt.Errorf("%w: LiveKit API key and secret are required", ErrConfig)
	case cfg.Verifier == nil:
		return nil, fmt.Errorf("%w: no OpenID verifier", ErrConfig)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log}, nil
}

// ServeHTTP routes /sfu/get, /get_token and /healthz.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	hdr.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Requested-With")
	switch r.URL.Path {
	case "/healthz":
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			h.fail(w, r, http.StatusMethodNotAllowed, "M_UNRECOGNIZED", "use GET", nil)
			return
		}
		w.WriteHeader(http.StatusOK)
	case "/sfu/get", "/get_token":
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusOK)
		case http.MethodPost:
			h.token(w, r)
		default:
			hdr.Set("Allow", "POST, OPTIONS")
			h.fail(w, r, http.StatusMethodNotAllowed, "M_UNRECOGNIZED", "use POST", nil)
		}
	default:
		h.fail(w, r, http.StatusNotFound, "M_UNRECOGNIZED", "unknown endpoint", nil)
	}
}

// token serves both token endpoints.
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.failErr(w, r, ErrTooLarge)
		} else {
			h.failErr(w, r, fmt.Errorf("%w: reading body: %w", ErrNotJSON, err))
		}
		return
	}
	var (
		tok                      OpenIDToken
		roomID, slotID, identity string
		claimedUser              string
	)
	if r.URL.Path == "/sfu/get" {
		req, err := ParseSFUGetRequest(body)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		tok, roomID, slotID = req.OpenIDToken, req.Room, SlotRoom
		identity = req.DeviceID // completed below, once the user is known
	} else {
		req, err := ParseGetTokenRequest(body)
		if err != nil {
			h.failErr(w, r, err)
			return
		}
		tok, roomID, slotID = req.OpenIDToken, req.RoomID, req.SlotID
		claimedUser = req.Member.ClaimedUserID
		identity = Identity(req.Member.ClaimedUserID, req.Member.ClaimedDeviceID, req.Member.ID)
	}
	userID, err := h.cfg.Verifier.UserID(r.Context(), tok)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if claimedUser != "" && claimedUser != userID {
		h.failErr(w, r, fmt.Errorf("%w: token of %s, claimed %s", ErrUnauthorized, userID, claimedUser))
		return
	}
	if claimedUser == "" {
		identity = LegacyIdentity(userID, identity)
	}
	room := RoomName(roomID, slotID)
	jwt, err := h.mint(room, identity)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "M_UNKNOWN", "could not mint a token", err)
		return
	}
	h.log.Info("rtcauth: token issued", "path", r.URL.Path, "user", userID, "livekit_room", room)
	writeJSON(w, http.StatusOK, Response{URL: h.cfg.LiveKitURL, JWT: jwt})
}

// mint signs a LiveKit token that lets identity join room, publish and
// subscribe; it cannot create rooms.
func (h *Handler) mint(room, identity string) (string, error) {
	yes := true
	grant := &auth.VideoGrant{
		RoomJoin:             true,
		RoomCreate:           false,
		Room:                 room,
		CanPublish:           &yes,
		CanSubscribe:         &yes,
		CanPublishData:       &yes,
		CanUpdateOwnMetadata: &yes,
	}
	return auth.NewAccessToken(h.cfg.APIKey, h.cfg.APISecret).
		SetIdentity(identity).
		SetValidFor(h.cfg.TokenTTL).
		SetVideoGrant(grant).
		ToJWT()
}

// failErr maps a sentinel error to its status and Matrix error code.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrTooLarge):
		h.fail(w, r, http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "request body too large", err)
	case errors.Is(err, ErrNotJSON):
		h.fail(w, r, http.StatusBadRequest, "M_NOT_JSON", "the request body is not valid JSON", err)
	case errors.Is(err, ErrBadJSON):
		h.fail(w, r, http.StatusBadRequest, "M_BAD_JSON", publicMessage(err), err)
	case errors.Is(err, ErrUnauthorized):
		h.fail(w, r, http.StatusUnauthorized, "M_UNAUTHORIZED", "the request could not be authorised", err)
	default:
		h.fail(w, r, http.StatusInternalServerError, "M_UNKNOWN", "internal error", err)
	}
}

// publicMessage is an ErrBadJSON error's text without the package prefix.
func publicMessage(err error) string {
	return strings.TrimPrefix(err.Error(), ErrBadJSON.Error()+": ")
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string, cause error) {
	attrs := []any{"path", r.URL.Path, "method", r.Method, "status", status, "errcode", code}
	if cause != nil {
		attrs = append(attrs, "err", cause.Error())
	}
	h.log.Info("rtcauth: request refused", attrs...)
	writeJSON(w, status, map[string]string{"errcode": code, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
