//go:build !linux

package media

func quietAudioBackend() {}
