package media

import (
	"path/filepath"
	"slices"

	"github.com/pion/mediadevices/pkg/driver"
	"github.com/pion/mediadevices/pkg/driver/camera"
)

// videoNodes are the /dev/video* nodes seen at the last camera scan.
var videoNodes []string

func init() { videoNodes, _ = filepath.Glob("/dev/video*") }

// rescanCameras looks for cameras again when the /dev/video* nodes have
// changed since the last scan, so that one plugged in (or out) after start
// is listed. mediadevices scans once at start, and its re-scan first drops
// every registered video driver, so it runs only then, and only while no
// camera is open (camMu keeps captureCamera from opening one meanwhile).
func rescanCameras() {
	nodes, _ := filepath.Glob("/dev/video*")
	camMu.Lock()
	defer camMu.Unlock()
	if slices.Equal(nodes, videoNodes) {
		return
	}
	for _, d := range cameras() {
		if d.Status() != driver.StateClosed {
			return
		}
	}
	camera.Initialize()
	videoNodes = nodes
}
