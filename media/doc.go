// Package media is mxcall's media pipeline: capture, encoding, decoding
// and playback. It owns devices (cameras through pion/mediadevices' driver
// registry, microphones and speakers through miniaudio/malgo), the VP8
// (libvpx, package media/vpx) and Opus (libopus) codecs, and the
// latest-frame slots the UI paints from. It must not import Fyne, mautrix,
// matrixclient or callengine: it hands out plain webrtc.TrackLocal values
// and takes *webrtc.TrackRemote values.
//
// Sending: NewSource gives a VP8 video track and an Opus audio track with
// one StreamID (callengine.Media{Audio: src.Audio(), Video: src.Video()}).
// Capture starts when a track is bound to a sender and stops (releasing
// the device) when it is unbound, muted or the Source is closed. Without a
// camera the video is a generated test pattern, without a microphone the
// audio is silence (or a tone with WithTone); Fallback and AudioFallback
// report it. SetPreviewing keeps the camera running for Preview() outside
// a call. Keyframes are forced on PLI/FIR; the bitrate follows REMB,
// receiver-report loss and the send-side GCC estimate (AddBandwidthEstimation
// on the API's interceptor registry, or SetBandwidthEstimate), under a cap.
// The tracks read their sender's RTCP themselves: do not drain
// RTPSender.Read for them.
//
// Receiving: NewVideoSink puts RTP packets back in order and joins them
// into frames (its own assembler, no allocation per frame), decodes them
// into a FrameSlot (triple-buffered I420, converted to RGBA only when the UI
// takes a frame, at the size it shows it; stale frames dropped) and
// sends PLIs when frames are lost; NewAudioSink decodes Opus (with loss concealment) into
// an AudioOutput such as a Player, which plays through a 40 ms jitter
// buffer and degrades to discarding audio when no sound device exists.
// RegisterCodecs sets up a MediaEngine with VP8 first and Opus; H.264 is
// not offered or accepted because there is no H.264 decoder here.
//
// Screen sharing: package media/screen lists screens and windows, makes
// picker thumbnails and captures (X11); NewScreenTrack (or
// OpenScreenTrack by source ID) turns a capture into a VP8 track of its
// own stream tuned for screens (libvpx screen-content mode, 5 fps, up to
// 1920x1080, a keyframe first, one frame a second while the screen stands
// still). Done and Err tell when the shared window was closed. A
// connection sending a camera and a share splits its bandwidth estimate
// 1:3. Measured (BenchmarkScreenCaptureEncode1080p5fps*, Xvfb 1920x1080 on
// the 2-core target, capture + encode + send): ≈ 8 % of a core for a still
// screen, ≈ 17-19 % while all of it scrolls.
//
// Echo cancellation: in-app, speexdsp's MDF canceller with its residual
// echo suppressor (libspeexdsp, 10 ms blocks, 200 ms tail, ≈ 0.25 ms of CPU
// per block). The far end is what every Player actually hands to its
// device; the near end is the microphone; it runs only while something is
// played. Measured: 32.8 dB ERLE on a synthetic 30 ms echo with the near
// end intact in double talk (TestEchoCanceller), 25 dB through a real
// PipeWire speaker→microphone loop (TestIntegrationEchoCancellation).
// Chosen over WebRTC AEC3 (livekit's apm: better, 42.7 dB, but a 177 s
// first build and +14 MB) and over requiring PipeWire/PulseAudio's
// module-echo-cancel (Linux only). When the system already cancels echo,
// call SetEchoCancellation(false): cancellers must not be stacked.
//
// Close order: close PeerConnections before the Source (the senders read
// RTCP through the tracks until they stop).
package media
