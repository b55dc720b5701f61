//go:build !linux

package media

// rescanCameras does nothing here: cameras are found once, at start.
func rescanCameras() {}
