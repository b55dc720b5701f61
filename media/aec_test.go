package media

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

func energy(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return e / float64(max(len(s), 1))
}

// TestEchoCanceller feeds the canceller a speech-like far end and a
// microphone that hears it 30 ms later at half amplitude (plus, in the
// second half, a near-end talker), and checks how much echo it removes
// (ERLE) and how much of the near end survives.
func TestEchoCanceller(t *testing.T) {
	e := newEchoCanceller()
	defer e.close()
	const seconds = 8
	n := seconds * sampleRate
	far := make([]int16, n)
	newSpeechLike(1).fill(far)
	delay := 30 * sampleRate / 1000
	near := make([]int16, n)
	for i := range near {
		if i >= delay {
			near[i] = far[i-delay] / 2
		}
	}
	talk := make([]int16, n) // near-end talker: 300 Hz in the last 2 s
	tn := tone{freq: 300, amp: 0.1}
	tn.fill(talk[n-2*sampleRate:])
	mic := make([]int16, n)
	for i := range mic {
		mic[i] = near[i] + talk[i]
	}
	out := make([]int16, n)
	start := time.Now()
	for i := 0; i+aecFrame <= n; i += aecFrame {
		e.played(far[i : i+aecFrame])
		blk := append([]int16(nil), mic[i:i+aecFrame]...)
		e.capture(blk)
		copy(out[i:], blk)
	}
	perBlock := time.Since(start) / time.Duration(n/aecFrame)
	// ERLE over seconds 4-6 (converged, echo only).
	a, b := 4*sampleRate, 6*sampleRate
	erle := 10 * math.Log10(energy(mic[a:b])/energy(out[a:b]))
	// Near end in double talk: energy of out vs the talker alone, last 2 s.
	c := n - 2*sampleRate
	loss := 10 * math.Log10(energy(talk[c:])/energy(out[c:]))
	t.Logf("ERLE %.1f dB, near-end change in double talk %.1f dB, %v per 10 ms block", erle, loss, perBlock)
	if erle < 15 {
		t.Errorf("ERLE %.1f dB, want ≥ 15", erle)
	}
	if loss > 6 {
		t.Errorf("near end attenuated by %.1f dB in double talk, want ≤ 6", loss)
	}
}

// speechLike is low-passed noise with a syllable-rate envelope.
type speechLike struct {
	rnd *rand.Rand
	lp  float64
	i   int
}

func newSpeechLike(seed int64) *speechLike { return &speechLike{rnd: rand.New(rand.NewSource(seed))} }

func (s *speechLike) fill(pcm []int16) {
	for k := range pcm {
		s.lp = 0.9*s.lp + 0.1*s.rnd.NormFloat64()*12000
		env := 0.5 + 0.5*math.Sin(2*math.Pi*4*float64(s.i)/sampleRate)
		pcm[k] = int16(max(-32767, min(32767, s.lp*env)))
		s.i++
	}
}
