package ui

import "image"

// VideoBuffers returns the pictures v holds: its frame buffers and the one
// on screen (for tests that check they are released).
func VideoBuffers(v *VideoView) []*image.RGBA {
	var out []*image.RGBA
	for _, b := range []*image.RGBA{v.bufs[0], v.bufs[1], v.raw, v.mid} {
		if b != nil {
			out = append(out, b)
		}
	}
	if img, ok := v.img.Image.(*image.RGBA); ok && img != nil {
		out = append(out, img)
	}
	return out
}

// Quit quits u as its window's close button does.
func Quit(u *UI) { u.quit() }

// Ellipsize is ellipsize, for tests.
var Ellipsize = ellipsize

// StateText returns the call view's state line.
func StateText(c *CallScreen) string { return c.state.Text }

// NewSharePicker returns a share picker over media, as the call view
// opens it.
func NewSharePicker(media Media, opts ...Option) *SharePicker {
	return newSharePicker(media, applyOpts(opts), nil, nil)
}
