package framecrypt

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// lkjsCase is one case of a testdata/lkjs/lkjs.mjs run request.
type lkjsCase struct {
	Op           string   `json:"op"`
	Key          []byte   `json:"key"`
	KeyIndex     uint8    `json:"key_index"`
	Ratchets     int      `json:"ratchets,omitempty"`
	Codec        string   `json:"codec"`
	Keyframe     bool     `json:"keyframe,omitempty"`
	SSRC         uint32   `json:"ssrc,omitempty"`
	RTPTimestamp uint32   `json:"rtp_timestamp,omitempty"`
	Plaintext    []byte   `json:"plaintext,omitempty"`
	Data         []byte   `json:"data,omitempty"`
	Frames       [][]byte `json:"frames,omitempty"`
}

type lkjsResult struct {
	Plaintext    []byte   `json:"plaintext"`
	Plaintexts   [][]byte `json:"plaintexts"`
	Ciphertext   []byte   `json:"ciphertext"`
	RatchetedKey []byte   `json:"ratcheted_key"`
	Errors       []string `json:"errors"`
}

// runLKJS sends cases to livekit-client's worker in Node and returns its
// answers, one per case.
func runLKJS(t *testing.T, cases []lkjsCase) []lkjsResult {
	t.Helper()
	req, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "node", "lkjs.mjs", "run")
	cmd.Dir = filepath.Join("testdata", "lkjs")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node lkjs.mjs run: %v\n%s", err, stderr.Bytes())
	}
	var resp struct {
		LivekitClient string       `json:"livekit_client"`
		Results       []lkjsResult `json:"results"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("node's answer: %v\n%.500s", err, out)
	}
	if len(resp.Results) != len(cases) {
		t.Fatalf("%d answers to %d cases", len(resp.Results), len(cases))
	}
	t.Logf("livekit-client %s", resp.LivekitClient)
	return resp.Results
}

// needLKJS skips unless MXCALL_LKJS=1, and installs the pinned
// livekit-client (npm ci) when it is missing.
func needLKJS(t *testing.T) {
	t.Helper()
	if os.Getenv("MXCALL_LKJS") != "1" {
		t.Skip("set MXCALL_LKJS=1 to cross-check live against livekit-client in Node (needs node and npm)")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("MXCALL_LKJS=1 but %s: %v", tool, err)
		}
	}
	dir := filepath.Join("testdata", "lkjs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "livekit-client")); err == nil {
		return
	}
	cmd := exec.CommandContext(t.Context(), "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

// liveFrame is one frame of the live cross-check.
type liveFrame struct {
	codec    Codec
	keyframe bool
	size     int
	index    uint8
	ratchets int
}

// Realistic sizes: a 720p VP8 key frame of 50 KB, a delta of 8 KB, a
// 20 ms Opus frame at 48 kbit/s of 120 bytes; and the edge cases.
var liveFrames = []liveFrame{
	{CodecVP8, true, 50_000, 0, 0},
	{CodecVP8, false, 8_000, 0, 0},
	{CodecVP8, false, 3, 1, 0},
	{CodecVP8, true, 10, 2, 0},
	{CodecOpus, false, 120, 0, 0},
	{CodecOpus, false, 1, 3, 0},
	{CodecVP9, true, 4_000, 255, 0},
	{CodecVP8, true, 20_000, 4, 1},
	{CodecVP8, false, 6_000, 5, 1},
	{CodecOpus, false, 100, 6, 1},
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestLKJSLiveGoEncrypts: frames we encrypt, livekit-client decrypts.
func TestLKJSLiveGoEncrypts(t *testing.T) {
	needLKJS(t)
	var cases []lkjsCase
	var plain [][]byte
	for i, f := range liveFrames {
		key := randomKey(t)
		ring := NewKeyRing()
		if err := ring.SetKey(f.index, key); err != nil {
			t.Fatal(err)
		}
		for range f.ratchets {
			if _, err := ring.Ratchet(f.index); err != nil {
				t.Fatal(err)
			}
		}
		ring.SetCurrentIndex(f.index)
		pt := testFrame(uint64(i), f.codec, f.keyframe, f.size)
		ct, err := NewEncryptor(ring).Encrypt(nil, pt, f.codec, 0x5eed0000+uint32(i), 90_000*uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, lkjsCase{Op: "decrypt", Key: key, KeyIndex: f.index, Codec: f.codec.String(), Data: ct})
		plain = append(plain, pt)
	}

	// A sender that ratchets its key before each frame: livekit-client's
	// receiver follows one step per frame.
	key := randomKey(t)
	ring := NewKeyRing()
	if err := ring.SetKey(7, key); err != nil {
		t.Fatal(err)
	}
	ring.SetCurrentIndex(7)
	enc := NewEncryptor(ring)
	seqCase := lkjsCase{Op: "decrypt", Key: key, KeyIndex: 7, Codec: "vp8"}
	var seqPlain [][]byte
	for i := range 4 {
		pt := testFrame(uint64(100+i), CodecVP8, i == 0, 2_000)
		ct, err := enc.Encrypt(nil, pt, CodecVP8, 0xabc, uint32(3000*i))
		if err != nil {
			t.Fatal(err)
		}
		seqCase.Frames = append(seqCase.Frames, ct)
		seqPlain = append(seqPlain, pt)
		if _, err := ring.Ratchet(7); err != nil {
			t.Fatal(err)
		}
	}
	cases = append(cases, seqCase)

	res := runLKJS(t, cases)
	for i, f := range liveFrames {
		if !bytes.Equal(res[i].Plaintext, plain[i]) {
			t.Errorf("%v key=%v %d bytes index %d ratchets %d: livekit-client did not decrypt it (%v)",
				f.codec, f.keyframe, f.size, f.index, f.ratchets, res[i].Errors)
		}
	}
	last := res[len(res)-1]
	for i, pt := range seqPlain {
		if i >= len(last.Plaintexts) || !bytes.Equal(last.Plaintexts[i], pt) {
			t.Errorf("ratchet sequence frame %d: livekit-client did not decrypt it (%v)", i, last.Errors)
		}
	}
}

// TestLKJSLiveGoDecrypts: frames livekit-client encrypts, we decrypt with
// the key as sent (ratcheted ones by auto-ratcheting).
func TestLKJSLiveGoDecrypts(t *testing.T) {
	needLKJS(t)
	frames := append(liveFrames,
		liveFrame{CodecVP8, false, 8_000, 8, 2},
		liveFrame{CodecOpus, false, 120, 9, 3},
		liveFrame{CodecVP8, true, 50_000, 10, 10},
	)
	var cases []lkjsCase
	for i, f := range frames {
		cases = append(cases, lkjsCase{
			Op: "encrypt", Key: randomKey(t), KeyIndex: f.index, Ratchets: f.ratchets,
			Codec: f.codec.String(), Keyframe: f.keyframe, SSRC: uint32(0x1000 + i), RTPTimestamp: uint32(0xfffff000 + 3000*i),
			Plaintext: testFrame(uint64(200+i), f.codec, f.keyframe, f.size),
		})
	}
	res := runLKJS(t, cases)
	for i, c := range cases {
		name := fmt.Sprintf("%s key=%v %d bytes index %d ratchets %d", c.Codec, c.Keyframe, len(c.Plaintext), c.KeyIndex, c.Ratchets)
		if res[i].Ciphertext == nil {
			t.Errorf("%s: livekit-client did not encrypt it (%v)", name, res[i].Errors)
			continue
		}
		ring := NewKeyRing()
		if err := ring.SetKey(c.KeyIndex, c.Key); err != nil {
			t.Fatal(err)
		}
		pt, err := NewDecryptor(ring).Decrypt(nil, res[i].Ciphertext, parseCodec(t, c.Codec))
		if err != nil || !bytes.Equal(pt, c.Plaintext) {
			t.Errorf("%s: Decrypt: %v", name, err)
		}
	}
}
