package media

import (
	"image"
	"testing"

	"github.com/pion/mediadevices/pkg/driver"
)

// A changed set of /dev/video* nodes makes ListDevices scan for cameras
// again, but never while a camera is open.
func TestCameraRescan(t *testing.T) {
	saved := videoNodes
	t.Cleanup(func() { videoNodes = saved })
	grey := rgbToYUV(128, 128, 128)
	cam := &fakeCamera{y: grey[0], cb: grey[1], cr: grey[2], sub: image.YCbCrSubsampleRatio420}
	id := registerFake(t, "fakecam-rescan", cam, driver.PriorityNormal)
	listed := func() bool {
		for _, d := range ListDevices() {
			if d.ID == id {
				return true
			}
		}
		return false
	}

	// Open: a node "appears", but the scan waits.
	d, err := openCamera(id)
	if err != nil {
		t.Fatal(err)
	}
	videoNodes = []string{"/dev/video-unplugged"}
	if !listed() {
		t.Fatal("a rescan dropped the open camera")
	}
	_ = d.Close()

	// Closed: the scan runs, and finds what the system has (our fake is
	// not a V4L2 device, so it is gone afterwards).
	if listed() {
		t.Fatal("no rescan after the video nodes changed")
	}
	if len(videoNodes) == 1 && videoNodes[0] == "/dev/video-unplugged" {
		t.Fatal("the scan did not record the nodes it saw")
	}
}
