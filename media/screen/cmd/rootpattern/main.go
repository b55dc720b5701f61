// Command rootpattern paints the X screen's root window (the desktop
// behind every window) in four coloured quadrants and keeps it so until
// it is ended (SIGTERM, SIGINT), so that a GUI test can share the screen
// and check, on the receiving side, that the known colours arrive
// (scripts/test-app.sh). It needs a TrueColor screen (Xvfb's 24-bit
// default) and prints "ready" once the server has painted the pattern.
//
// Usage: rootpattern [-colours '#rrggbb,#rrggbb,#rrggbb,#rrggbb']
// (top left, top right, bottom left, bottom right).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// errBadColours is returned for a -colours value that is not four
// "#rrggbb" colours.
var errBadColours = errors.New("want four #rrggbb colours separated by commas")

func main() {
	colours := flag.String("colours", "#c828c8,#28c8c8,#f08c14,#ebebeb", "the quadrants' colours: top left, top right, bottom left, bottom right")
	flag.Parse()
	px, err := parseColours(*colours)
	if err == nil {
		err = run(px)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rootpattern:", err)
		os.Exit(1)
	}
}

// parseColours parses four comma-separated "#rrggbb" colours into
// TrueColor pixel values.
func parseColours(s string) ([4]uint32, error) {
	var px [4]uint32
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return px, fmt.Errorf("%w, got %q", errBadColours, s)
	}
	for i, p := range parts {
		var r, g, b uint8
		if n, err := fmt.Sscanf(strings.TrimSpace(p), "#%02x%02x%02x", &r, &g, &b); err != nil || n != 3 {
			return px, fmt.Errorf("%w: %q is not #rrggbb", errBadColours, p)
		}
		px[i] = uint32(r)<<16 | uint32(g)<<8 | uint32(b)
	}
	return px, nil
}

// run paints the root window's background and waits for a signal.
func run(px [4]uint32) error {
	x, err := xgb.NewConn()
	if err != nil {
		return err
	}
	defer x.Close()
	s := xproto.Setup(x).DefaultScreen(x)
	w, h := s.WidthInPixels, s.HeightInPixels
	pm, err := xproto.NewPixmapId(x)
	if err != nil {
		return err
	}
	if err := xproto.CreatePixmapChecked(x, s.RootDepth, pm, xproto.Drawable(s.Root), w, h).Check(); err != nil {
		return fmt.Errorf("pixmap: %w", err)
	}
	gc, err := xproto.NewGcontextId(x)
	if err != nil {
		return err
	}
	if err := xproto.CreateGCChecked(x, gc, xproto.Drawable(pm), 0, nil).Check(); err != nil {
		return fmt.Errorf("graphics context: %w", err)
	}
	hw, hh := w/2, h/2
	rects := [4]xproto.Rectangle{
		{X: 0, Y: 0, Width: hw, Height: hh},
		{X: int16(hw), Y: 0, Width: w - hw, Height: hh},
		{X: 0, Y: int16(hh), Width: hw, Height: h - hh},
		{X: int16(hw), Y: int16(hh), Width: w - hw, Height: h - hh},
	}
	for i, r := range rects {
		if err := xproto.ChangeGCChecked(x, gc, xproto.GcForeground, []uint32{px[i]}).Check(); err != nil {
			return err
		}
		if err := xproto.PolyFillRectangleChecked(x, xproto.Drawable(pm), gc, []xproto.Rectangle{r}).Check(); err != nil {
			return err
		}
	}
	if err := xproto.ChangeWindowAttributesChecked(x, s.Root, xproto.CwBackPixmap, []uint32{uint32(pm)}).Check(); err != nil {
		return fmt.Errorf("root background: %w", err)
	}
	if err := xproto.ClearAreaChecked(x, false, s.Root, 0, 0, 0, 0).Check(); err != nil {
		return err
	}
	if _, err := xproto.GetInputFocus(x).Reply(); err != nil { // a round trip: the server has painted it
		return err
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}
