package media

import (
	"sort"

	"github.com/gen2brain/malgo"
	"github.com/pion/mediadevices/pkg/driver"
)

// DeviceKind tells what a Device is.
type DeviceKind int

// Device kinds.
const (
	DeviceUnknown DeviceKind = iota
	DeviceCamera
	DeviceMicrophone
	DeviceSpeaker
)

var kindNames = [...]string{"unknown", "camera", "microphone", "speaker"}

func (k DeviceKind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Device is a capture or playback device.
type Device struct {
	// ID selects the device (WithCamera, WithMicrophone, SelectCamera,
	// SelectMicrophone, NewPlayer). It is stable while the device stays plugged in.
	ID string
	// Label is a human-readable name.
	Label   string
	Kind    DeviceKind
	Default bool
}

// ListDevices lists cameras (mediadevices' driver registry, scanned again
// while no camera is open, so that one plugged in since is found),
// microphones and speakers (miniaudio, asked each time). Sound devices are
// listed only when a real sound system (PulseAudio/PipeWire, ALSA, Jack;
// CoreAudio; WASAPI) is usable.
func ListDevices() []Device {
	rescanCameras()
	var out []Device
	for _, d := range cameras() {
		info := d.Info()
		label := info.Name
		if label == "" {
			label = info.Label
		}
		out = append(out, Device{ID: d.ID(), Label: label, Kind: DeviceCamera, Default: info.Priority == driver.PriorityHigh})
	}
	for _, k := range []struct {
		t    malgo.DeviceType
		kind DeviceKind
	}{{malgo.Capture, DeviceMicrophone}, {malgo.Playback, DeviceSpeaker}} {
		for _, d := range audioDevices(k.t) {
			out = append(out, Device{ID: d.ID.String(), Label: d.Name(), Kind: k.kind, Default: d.IsDefault != 0})
		}
	}
	return out
}

// cameras returns the registered video drivers, highest priority first.
func cameras() []driver.Driver {
	ds := driver.GetManager().Query(driver.FilterAnd(driver.FilterVideoRecorder(), driver.FilterDeviceType(driver.Camera)))
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Info().Priority != ds[j].Info().Priority {
			return ds[i].Info().Priority > ds[j].Info().Priority
		}
		return ds[i].Info().Label < ds[j].Info().Label
	})
	return ds
}
