package vpx

import (
	"fmt"
	"testing"
)

func BenchmarkEncodeCPUUsed(b *testing.B) {
	for _, cpu := range []int{8, 16, -16} { // negative: fixed speed, no auto-select
		for _, th := range []int{1, 2} {
			for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
				b.Run(fmt.Sprintf("cpu%d-threads%d-%dx%d", cpu, th, sz[0], sz[1]), func(b *testing.B) {
					enc, _ := NewEncoder(EncoderConfig{Width: sz[0], Height: sz[1], BitrateKbps: 1500, CPUUsed: cpu, Threads: th})
					defer enc.Close()
					fr := benchFrames(sz[0], sz[1])
					for i := range 10 {
						f := fr[i%len(fr)]
						enc.Encode(f[0], f[1], f[2], int64(i*33))
					}
					ct := startCPU(b)
					for i := 0; i < b.N; i++ {
						f := fr[i%len(fr)]
						enc.Encode(f[0], f[1], f[2], int64((i+10)*33))
					}
					ct.stop(b)
				})
			}
		}
	}
}
