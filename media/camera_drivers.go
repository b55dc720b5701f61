//go:build linux || darwin || windows

package media

// Registers the platform's camera driver (V4L2 on Linux, AVFoundation on
// macOS, DirectShow/Media Foundation on Windows) with mediadevices'
// driver manager.
import _ "github.com/pion/mediadevices/pkg/driver/camera"
