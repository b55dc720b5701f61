//go:build linux

package screen

import (
	"context"
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/composite"
	"github.com/jezek/xgb/randr"
	"github.com/jezek/xgb/shm"
	"github.com/jezek/xgb/xfixes"
	"github.com/jezek/xgb/xproto"
	"golang.org/x/sys/unix"

	"github.com/mxcall/mxcall/media/vpx"
)

// conn is one connection to the X server with what capture needs of it.
// It is not safe for concurrent use.
type conn struct {
	x         *xgb.Conn
	root      xproto.Window
	rootVis   xproto.Visualid
	lsb       bool          // images are least significant byte first
	bpp       map[byte]byte // depth → bits per pixel
	visuals   map[xproto.Visualid]xproto.VisualInfo
	atoms     map[string]xproto.Atom
	names     map[xproto.Atom]string
	composite bool
	randr     bool // RandR ≥ 1.5 (monitors)
	xfixes    bool // cursor image
	shm       *shmSeg
	noShm     bool // MIT-SHM missing or refused: plain GetImage
}

// shmSeg is a SysV shared memory segment attached by us and the server.
type shmSeg struct {
	seg shm.Seg
	buf []byte
}

func dial(ctx context.Context) (*conn, error) {
	if err := displayError(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x, err := xgb.NewConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	setup := xproto.Setup(x)
	scr := setup.DefaultScreen(x)
	c := &conn{x: x, root: scr.Root, rootVis: scr.RootVisual, lsb: setup.ImageByteOrder == xproto.ImageOrderLSBFirst,
		bpp: map[byte]byte{}, visuals: map[xproto.Visualid]xproto.VisualInfo{},
		atoms: map[string]xproto.Atom{}, names: map[xproto.Atom]string{}}
	for _, f := range setup.PixmapFormats {
		c.bpp[f.Depth] = f.BitsPerPixel
	}
	for _, d := range scr.AllowedDepths {
		for _, v := range d.Visuals {
			c.visuals[v.VisualId] = v
		}
	}
	if composite.Init(x) == nil {
		if _, err := composite.QueryVersion(x, 0, 4).Reply(); err == nil {
			c.composite = true
		}
	}
	if randr.Init(x) == nil {
		if r, err := randr.QueryVersion(x, 1, 5).Reply(); err == nil && (r.MajorVersion > 1 || r.MinorVersion >= 5) {
			c.randr = true
		}
	}
	if xfixes.Init(x) == nil {
		if _, err := xfixes.QueryVersion(x, 4, 0).Reply(); err == nil {
			c.xfixes = true
		}
	}
	c.noShm = shm.Init(x) != nil
	if err := c.internAtoms("_NET_CLIENT_LIST", "_NET_WM_NAME", "UTF8_STRING", "_NET_WM_PID",
		"_NET_WM_WINDOW_TYPE", "_NET_WM_WINDOW_TYPE_DOCK", "_NET_WM_WINDOW_TYPE_DESKTOP"); err != nil {
		x.Close()
		return nil, fmt.Errorf("%w: %w", ErrNoDisplay, err)
	}
	return c, nil
}

func (c *conn) close() {
	if c.shm != nil {
		_ = shm.DetachChecked(c.x, c.shm.seg).Check()
		_ = unix.SysvShmDetach(c.shm.buf)
		c.shm = nil
	}
	c.x.Close()
}

func (c *conn) internAtoms(names ...string) error {
	cookies := make([]xproto.InternAtomCookie, len(names))
	for i, n := range names {
		cookies[i] = xproto.InternAtom(c.x, false, uint16(len(n)), n)
	}
	for i, ck := range cookies {
		r, err := ck.Reply()
		if err != nil {
			return err
		}
		c.atoms[names[i]] = r.Atom
	}
	return nil
}

func (c *conn) atomName(a xproto.Atom) string {
	if n, ok := c.names[a]; ok {
		return n
	}
	r, err := xproto.GetAtomName(c.x, a).Reply()
	if err != nil {
		return ""
	}
	c.names[a] = r.Name
	return r.Name
}

// drain discards events and stray errors, so xgb's event queue never
// fills up (every request here is checked, but the server may still send
// events).
func (c *conn) drain() {
	for {
		ev, err := c.x.PollForEvent()
		if ev == nil && err == nil {
			return
		}
	}
}

// gone reports whether err says the window or drawable no longer exists.
func gone(err error) bool {
	return errors.As(err, new(xproto.WindowError)) || errors.As(err, new(xproto.DrawableError)) ||
		errors.As(err, new(xproto.PixmapError))
}

// pixelOrder tells how a visual's pixels are laid out in a 32-bit ZPixmap
// image: bgr for B,G,R,x bytes, else R,G,B,x.
func (c *conn) pixelOrder(depth byte, vis xproto.Visualid) (bgr bool, err error) {
	v, ok := c.visuals[vis]
	if !ok || c.bpp[depth] != 32 || (depth != 24 && depth != 32) || !c.lsb {
		return false, fmt.Errorf("%w: depth %d, %d bits per pixel", ErrUnsupportedFormat, depth, c.bpp[depth])
	}
	switch {
	case v.RedMask == 0xff0000 && v.GreenMask == 0xff00 && v.BlueMask == 0xff:
		return true, nil
	case v.RedMask == 0xff && v.GreenMask == 0xff00 && v.BlueMask == 0xff0000:
		return false, nil
	}
	return false, fmt.Errorf("%w: masks %06x %06x %06x", ErrUnsupportedFormat, v.RedMask, v.GreenMask, v.BlueMask)
}

// getImage reads a w×h rectangle of d as 32-bit pixels (stride 4w),
// through shared memory when the server takes it. The returned slice is
// valid until the next getImage.
func (c *conn) getImage(d xproto.Drawable, x, y, w, h int) (pix []byte, depth byte, err error) {
	n := w * h * 4
	if !c.noShm && (c.shm == nil || len(c.shm.buf) < n) {
		c.attachShm(n)
	}
	if c.shm != nil {
		r, err := shm.GetImage(c.x, d, int16(x), int16(y), uint16(w), uint16(h), 0xffffffff,
			xproto.ImageFormatZPixmap, c.shm.seg, 0).Reply()
		if err != nil {
			return nil, 0, err
		}
		if int(r.Size) < n {
			return nil, 0, fmt.Errorf("%w: %d bytes for %dx%d", ErrUnsupportedFormat, r.Size, w, h)
		}
		return c.shm.buf[:n], r.Depth, nil
	}
	r, err := xproto.GetImage(c.x, xproto.ImageFormatZPixmap, d, int16(x), int16(y), uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		return nil, 0, err
	}
	if len(r.Data) < n {
		return nil, 0, fmt.Errorf("%w: %d bytes for %dx%d", ErrUnsupportedFormat, len(r.Data), w, h)
	}
	return r.Data[:n], r.Depth, nil
}

// attachShm makes a shared segment of at least n bytes, or turns shared
// memory off for this connection when the server cannot attach it (a
// remote display, another IPC namespace).
func (c *conn) attachShm(n int) {
	if c.shm != nil {
		_ = shm.DetachChecked(c.x, c.shm.seg).Check()
		_ = unix.SysvShmDetach(c.shm.buf)
		c.shm = nil
	}
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, n, unix.IPC_CREAT|0o600)
	if err != nil {
		c.noShm = true
		return
	}
	buf, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		c.noShm = true
		return
	}
	seg, err := shm.NewSegId(c.x)
	if err == nil {
		err = shm.AttachChecked(c.x, seg, uint32(id), false).Check()
	}
	// Marked for removal now: it goes away when both sides detach.
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	if err != nil {
		_ = unix.SysvShmDetach(buf)
		c.noShm = true
		return
	}
	c.shm = &shmSeg{seg: seg, buf: buf}
}

// cursor draws the pointer (XFixes' cursor image) into pix, a w×h
// picture whose top left corner is at (ox, oy) on the root window.
func (c *conn) cursor(pix []byte, w, h, ox, oy int, bgr bool) {
	if !c.xfixes {
		return
	}
	r, err := xfixes.GetCursorImage(c.x).Reply()
	if err != nil || len(r.CursorImage) < int(r.Width)*int(r.Height) {
		return
	}
	cx, cy := int(r.X)-int(r.Xhot)-ox, int(r.Y)-int(r.Yhot)-oy
	ri, bi := 0, 2
	if bgr {
		ri, bi = 2, 0
	}
	for y := max(0, -cy); y < int(r.Height) && cy+y < h; y++ {
		for x := max(0, -cx); x < int(r.Width) && cx+x < w; x++ {
			p := r.CursorImage[y*int(r.Width)+x] // premultiplied ARGB
			a := p >> 24
			if a == 0 {
				continue
			}
			o := ((cy+y)*w + cx + x) * 4
			blend := func(i int, s uint32) { pix[o+i] = byte(s + uint32(pix[o+i])*(255-a)/255) }
			blend(ri, p>>16&0xff)
			blend(1, p>>8&0xff)
			blend(bi, p&0xff)
		}
	}
}

// target is a parsed source ID.
type target struct {
	kind    Kind
	monitor string // KindScreen: "" = the whole root window
	win     xproto.Window
}

func parseID(id string) (target, error) {
	kind, rest, _ := strings.Cut(id, ":")
	switch kind {
	case "screen":
		if rest == "root" {
			return target{kind: KindScreen}, nil
		}
	case "monitor":
		if rest != "" {
			return target{kind: KindScreen, monitor: rest}, nil
		}
	case "window":
		if v, err := strconv.ParseUint(strings.TrimPrefix(rest, "0x"), 16, 32); err == nil && strings.HasPrefix(rest, "0x") && v != 0 {
			return target{kind: KindWindow, win: xproto.Window(v)}, nil
		}
	}
	return target{}, fmt.Errorf("%w: %q", ErrNoSource, id)
}

func windowID(w xproto.Window) string { return fmt.Sprintf("window:0x%x", uint32(w)) }

// monitors returns the RandR monitors (primary first), or nil without RandR 1.5.
func (c *conn) monitors() ([]randr.MonitorInfo, error) {
	if !c.randr {
		return nil, nil
	}
	r, err := randr.GetMonitors(c.x, c.root, true).Reply()
	if err != nil {
		return nil, err
	}
	ms := r.Monitors
	for i, m := range ms {
		if m.Primary && i > 0 {
			ms[0], ms[i] = ms[i], ms[0]
		}
	}
	return ms, nil
}

// screenRect is the root-window rectangle of a screen target.
func (c *conn) screenRect(t target) (image.Rectangle, error) {
	g, err := xproto.GetGeometry(c.x, xproto.Drawable(c.root)).Reply()
	if err != nil {
		return image.Rectangle{}, err
	}
	root := image.Rect(0, 0, int(g.Width), int(g.Height))
	if t.monitor == "" {
		return root, nil
	}
	ms, err := c.monitors()
	if err != nil {
		return image.Rectangle{}, err
	}
	for _, m := range ms {
		if c.atomName(m.Name) == t.monitor {
			r := image.Rect(int(m.X), int(m.Y), int(m.X)+int(m.Width), int(m.Y)+int(m.Height)).Intersect(root)
			if r.Empty() {
				break
			}
			return r, nil
		}
	}
	return image.Rectangle{}, fmt.Errorf("%w: monitor %q", ErrSourceGone, t.monitor)
}

// screens lists the screen sources.
func (c *conn) screens() ([]Source, error) {
	g, err := xproto.GetGeometry(c.x, xproto.Drawable(c.root)).Reply()
	if err != nil {
		return nil, err
	}
	all := Source{ID: "screen:root", Kind: KindScreen, Title: "Entire screen", Size: image.Pt(int(g.Width), int(g.Height)), Primary: true}
	ms, err := c.monitors()
	if err != nil || len(ms) == 0 {
		return []Source{all}, nil // no monitors: the root window is the screen
	}
	var out []Source
	for i, m := range ms {
		name := c.atomName(m.Name)
		if name == "" {
			continue
		}
		out = append(out, Source{ID: "monitor:" + name, Kind: KindScreen, Title: fmt.Sprintf("Screen %d (%s)", i+1, name),
			Size: image.Pt(int(m.Width), int(m.Height)), Primary: i == 0})
	}
	if len(out) == 1 {
		out[0].Title = "Entire screen"
	} else {
		all.Title, all.Primary = "All screens", false
		out = append(out, all)
	}
	return out, nil
}

// windows lists the top-level windows that are shown: EWMH's client list
// when a window manager keeps one, else the root's mapped children.
func (c *conn) windows() ([]Source, error) {
	var ids []xproto.Window
	p, err := xproto.GetProperty(c.x, false, c.root, c.atoms["_NET_CLIENT_LIST"], xproto.AtomWindow, 0, 1<<16).Reply()
	if err != nil {
		return nil, err
	}
	ewmh := p.Format == 32
	if ewmh {
		for i := 0; i+4 <= len(p.Value); i += 4 {
			ids = append(ids, xproto.Window(xgb.Get32(p.Value[i:])))
		}
	} else {
		t, err := xproto.QueryTree(c.x, c.root).Reply()
		if err != nil {
			return nil, err
		}
		ids = t.Children
	}
	type cookies struct {
		attr          xproto.GetWindowAttributesCookie
		geom          xproto.GetGeometryCookie
		name, wm, pid xproto.GetPropertyCookie
		typ           xproto.GetPropertyCookie
	}
	cs := make([]cookies, len(ids))
	for i, w := range ids { // all requests first, then the replies: one round trip
		cs[i] = cookies{
			attr: xproto.GetWindowAttributes(c.x, w),
			geom: xproto.GetGeometry(c.x, xproto.Drawable(w)),
			name: xproto.GetProperty(c.x, false, w, c.atoms["_NET_WM_NAME"], c.atoms["UTF8_STRING"], 0, 1024),
			wm:   xproto.GetProperty(c.x, false, w, xproto.AtomWmName, xproto.GetPropertyTypeAny, 0, 1024),
			pid:  xproto.GetProperty(c.x, false, w, c.atoms["_NET_WM_PID"], xproto.AtomCardinal, 0, 1),
			typ:  xproto.GetProperty(c.x, false, w, c.atoms["_NET_WM_WINDOW_TYPE"], xproto.AtomAtom, 0, 32),
		}
	}
	var out []Source
	for i, w := range ids {
		a, aerr := cs[i].attr.Reply()
		g, gerr := cs[i].geom.Reply()
		name, _ := cs[i].name.Reply()
		wm, _ := cs[i].wm.Reply()
		pid, _ := cs[i].pid.Reply()
		typ, _ := cs[i].typ.Reply()
		if aerr != nil || gerr != nil || a.MapState != xproto.MapStateViewable || a.Class != xproto.WindowClassInputOutput ||
			g.Width < 2 || g.Height < 2 || c.skipType(typ) {
			continue // gone meanwhile, not shown, or a panel or desktop
		}
		if !ewmh && a.OverrideRedirect {
			continue // menus and tooltips
		}
		title := ""
		if name != nil && name.Format == 8 && utf8.Valid(name.Value) {
			title = string(name.Value)
		} else if wm != nil && wm.Format == 8 {
			title = latin1(wm.Value)
		}
		if !ewmh && title == "" {
			continue // without a window manager: skip unnamed helper windows
		}
		if title == "" {
			title = "Untitled window"
		}
		s := Source{ID: windowID(w), Kind: KindWindow, Title: title, Size: image.Pt(int(g.Width), int(g.Height))}
		if pid != nil && pid.Format == 32 && len(pid.Value) >= 4 {
			s.PID = int(xgb.Get32(pid.Value))
		}
		out = append(out, s)
	}
	return out, nil
}

func (c *conn) skipType(p *xproto.GetPropertyReply) bool {
	if p == nil || p.Format != 32 {
		return false
	}
	for i := 0; i+4 <= len(p.Value); i += 4 {
		a := xproto.Atom(xgb.Get32(p.Value[i:]))
		if a == c.atoms["_NET_WM_WINDOW_TYPE_DOCK"] || a == c.atoms["_NET_WM_WINDOW_TYPE_DESKTOP"] {
			return true
		}
	}
	return false
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// grabber takes pictures of one target over one connection. It keeps a
// window redirected (XComposite, automatic) while it exists, so that the
// window's own pixmap holds all of it even when covered.
type grabber struct {
	c      *conn
	t      target
	pix    xproto.Pixmap
	pixW   int
	pixH   int
	redir  bool
	full   vpx.I420
	scaled vpx.I420
	scaler vpx.Scaler
}

// errSkip means no picture this time (a window not shown, a race with a
// resize); try again later.
var errSkip = errors.New("screen: no picture now")

// grab captures the target into g.full (cropped to even size). It returns
// ErrSourceGone when the target no longer exists, errSkip when there is no
// picture now.
func (g *grabber) grab(cursor bool) (*vpx.I420, error) {
	defer g.c.drain()
	if g.t.kind == KindScreen {
		r, err := g.c.screenRect(g.t)
		if err != nil {
			return nil, err
		}
		w, h := r.Dx()&^1, r.Dy()&^1
		if w == 0 || h == 0 {
			return nil, errSkip
		}
		pix, depth, err := g.c.getImage(xproto.Drawable(g.c.root), r.Min.X, r.Min.Y, w, h)
		if err != nil {
			return nil, errSkip // the screen was resized in between
		}
		return g.convert(pix, w, h, depth, g.c.rootVis, cursor, r.Min)
	}
	return g.grabWindow(cursor)
}

func (g *grabber) grabWindow(cursor bool) (*vpx.I420, error) {
	c, win := g.c, g.t.win
	geomCk := xproto.GetGeometry(c.x, xproto.Drawable(win))
	attrCk := xproto.GetWindowAttributes(c.x, win)
	posCk := xproto.TranslateCoordinates(c.x, win, c.root, 0, 0)
	geom, gerr := geomCk.Reply()
	attr, aerr := attrCk.Reply()
	pos, perr := posCk.Reply()
	if err := errors.Join(gerr, aerr, perr); err != nil {
		if gone(err) {
			return nil, fmt.Errorf("%w: %w", ErrSourceGone, err)
		}
		return nil, err
	}
	if attr.MapState != xproto.MapStateViewable {
		return nil, errSkip
	}
	w, h, bw := int(geom.Width)&^1, int(geom.Height)&^1, int(geom.BorderWidth)
	if w == 0 || h == 0 {
		return nil, errSkip
	}
	drawable, x, y := xproto.Drawable(win), 0, 0
	if c.composite {
		if err := g.namePixmap(int(geom.Width), int(geom.Height), bw); err == nil {
			drawable, x, y = xproto.Drawable(g.pix), bw, bw
		}
	}
	pix, depth, err := c.getImage(drawable, x, y, w, h)
	if err != nil {
		// A window closed or unmapped in between: tell which.
		if _, gerr := xproto.GetGeometry(c.x, xproto.Drawable(win)).Reply(); gerr != nil && gone(gerr) {
			return nil, fmt.Errorf("%w: %w", ErrSourceGone, gerr)
		}
		g.freePixmap()
		return nil, errSkip
	}
	return g.convert(pix, w, h, depth, attr.Visual, cursor, image.Pt(int(pos.DstX), int(pos.DstY)))
}

// namePixmap makes g.pix the window's current off-screen pixmap (a new
// one after a resize).
func (g *grabber) namePixmap(w, h, bw int) error {
	c := g.c
	if !g.redir {
		if err := composite.RedirectWindowChecked(c.x, g.t.win, composite.RedirectAutomatic).Check(); err != nil {
			return err
		}
		g.redir = true
	}
	if g.pix != 0 && g.pixW == w+2*bw && g.pixH == h+2*bw {
		return nil
	}
	g.freePixmap()
	p, err := xproto.NewPixmapId(c.x)
	if err != nil {
		return err
	}
	if err := composite.NameWindowPixmapChecked(c.x, g.t.win, p).Check(); err != nil {
		return err
	}
	g.pix, g.pixW, g.pixH = p, w+2*bw, h+2*bw
	return nil
}

func (g *grabber) freePixmap() {
	if g.pix != 0 {
		_ = xproto.FreePixmapChecked(g.c.x, g.pix).Check()
		g.pix = 0
	}
}

// release gives back the pixmap and the redirection.
func (g *grabber) release() {
	g.freePixmap()
	if g.redir {
		_ = composite.UnredirectWindowChecked(g.c.x, g.t.win, composite.RedirectAutomatic).Check()
		g.redir = false
	}
}

func (g *grabber) convert(pix []byte, w, h int, depth byte, vis xproto.Visualid, cursor bool, at image.Point) (*vpx.I420, error) {
	bgr, err := g.c.pixelOrder(depth, vis)
	if err != nil {
		return nil, err
	}
	if cursor {
		g.c.cursor(pix, w, h, at.X, at.Y, bgr)
	}
	if err := g.full.FromRGB32(pix, 4*w, w, h, bgr); err != nil {
		return nil, err
	}
	return &g.full, nil
}

// fit shrinks f to fit maxW×maxH (even sizes), or returns f when it fits.
func (g *grabber) fit(f *vpx.I420, maxW, maxH int) (*vpx.I420, error) {
	w, h := vpx.FitSize(f.Width, f.Height, maxW, maxH)
	w, h = max(w&^1, 2), max(h&^1, 2)
	if w == f.Width && h == f.Height {
		return f, nil
	}
	if err := g.scaler.Scale(&g.scaled, f, w, h); err != nil {
		return nil, err
	}
	return &g.scaled, nil
}

// Picker lists sources and makes thumbnails over one connection to the X
// server, keeping windows it made thumbnails of redirected (so the next
// thumbnail of a covered window is whole). Not safe for concurrent use.
type Picker struct {
	c        *conn
	grabbers map[string]*grabber
	conv     *vpx.Converter
}

// NewPicker connects to the X server. It returns ErrWayland or
// ErrNoDisplay when there is none to capture.
func NewPicker(ctx context.Context) (*Picker, error) {
	c, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	return &Picker{c: c, grabbers: map[string]*grabber{}, conv: vpx.NewConverter(1)}, nil
}

// Sources lists what can be shared (see ListSources).
func (p *Picker) Sources(ctx context.Context) ([]Source, error) {
	if p.c == nil {
		return nil, ErrClosed
	}
	defer p.c.drain()
	var out []Source
	if !underWayland() {
		s, err := p.c.screens()
		if err != nil {
			return nil, err
		}
		out = s
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w, err := p.c.windows()
	if err != nil {
		return nil, err
	}
	return append(out, w...), nil
}

// Thumbnail returns a picture of the source at most maxW pixels wide and
// maxW high (see Thumbnail). A window that is not shown gives
// ErrNotViewable, one that is gone ErrSourceGone.
func (p *Picker) Thumbnail(ctx context.Context, id string, maxW int) (*image.RGBA, error) {
	if p.c == nil {
		return nil, ErrClosed
	}
	t, err := parseID(id)
	if err != nil {
		return nil, err
	}
	if t.kind == KindScreen && underWayland() {
		return nil, ErrWayland
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := p.grabbers[id]
	if g == nil {
		g = &grabber{c: p.c, t: t}
		p.grabbers[id] = g
	}
	f, err := g.grab(true)
	if errors.Is(err, ErrSourceGone) || errors.Is(err, errSkip) {
		g.release()
		delete(p.grabbers, id)
		if errors.Is(err, errSkip) {
			return nil, ErrNotViewable
		}
	}
	if err != nil {
		return nil, err
	}
	if maxW <= 0 {
		maxW = 240
	}
	if f, err = g.fit(f, maxW, maxW); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	if err := p.conv.ConvertFrame(f, img); err != nil {
		return nil, err
	}
	return img, nil
}

// Close releases the redirections and closes the connection; it is
// idempotent.
func (p *Picker) Close() error {
	if p.c == nil {
		return nil
	}
	for _, g := range p.grabbers {
		g.release()
	}
	p.c.close()
	p.c = nil
	_ = p.conv.Close()
	return nil
}

// capture is the X11 VideoSource.
type capture struct {
	src    Source
	opts   Options
	period time.Duration
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex // held while capturing; Close waits for it
	c    *conn
	g    *grabber
	next time.Time
	last *vpx.I420
	out  Frame
}

// Open starts capturing the source with this ID (from ListSources) at
// opts.FPS. It returns ErrNoSource for an ID that names nothing (a window
// closed since it was listed), ErrWayland or ErrNoDisplay when there is no
// X server to capture.
func Open(ctx context.Context, id string, opts Options) (VideoSource, error) {
	t, err := parseID(id)
	if err != nil {
		return nil, err
	}
	if t.kind == KindScreen && underWayland() && displayError() == nil {
		return nil, ErrWayland
	}
	c, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	src, err := c.describe(t, id)
	if err != nil {
		c.close()
		return nil, err
	}
	opts = opts.withDefaults()
	return &capture{src: src, opts: opts, period: time.Second / time.Duration(opts.FPS), done: make(chan struct{}),
		c: c, g: &grabber{c: c, t: t}}, nil
}

// describe checks that t exists and describes it.
func (c *conn) describe(t target, id string) (Source, error) {
	if t.kind == KindScreen {
		r, err := c.screenRect(t)
		if err != nil {
			return Source{}, fmt.Errorf("%w: %q", ErrNoSource, id)
		}
		title := "Entire screen"
		if t.monitor != "" {
			title = "Screen " + t.monitor
		}
		return Source{ID: id, Kind: KindScreen, Title: title, Size: r.Size()}, nil
	}
	g, err := xproto.GetGeometry(c.x, xproto.Drawable(t.win)).Reply()
	if err != nil {
		return Source{}, fmt.Errorf("%w: %q: %w", ErrNoSource, id, err)
	}
	s := Source{ID: id, Kind: KindWindow, Title: id, Size: image.Pt(int(g.Width), int(g.Height))}
	if ws, err := c.windows(); err == nil {
		for _, w := range ws {
			if w.ID == id {
				s = w
			}
		}
	}
	return s, nil
}

func (s *capture) Source() Source { return s.src }

// ReadFrame implements VideoSource. The first frame comes at once; a
// window that is not shown repeats its last frame (or, before the first,
// is waited for).
func (s *capture) ReadFrame(ctx context.Context) (*Frame, error) {
	for {
		start, err := s.wait(ctx)
		if err != nil {
			return nil, err
		}
		f, err := s.captureOne()
		if errors.Is(err, errSkip) {
			if s.last == nil {
				continue
			}
			f, err = s.last, nil
		}
		if err != nil {
			return nil, err
		}
		s.last = f
		s.out = Frame{Width: f.Width, Height: f.Height, Y: f.Y, U: f.U, V: f.V, Time: start}
		return &s.out, nil
	}
}

// wait sleeps until the next frame is due and returns when it started:
// frames start at least a period apart, also after a slow frame (no
// burst to catch up).
func (s *capture) wait(ctx context.Context) (time.Time, error) {
	now := time.Now()
	if s.next.IsZero() {
		s.next = now
	}
	if d := s.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-s.done:
			return time.Time{}, ErrClosed
		case <-t.C:
		}
	}
	select {
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-s.done:
		return time.Time{}, ErrClosed
	default:
	}
	start := time.Now()
	// Counted from this frame's start, not from when it was due: a frame
	// that started late (a slow capture, a late timer, a reader that came
	// back late) must not be followed by one less than a period after.
	s.next = start.Add(s.period)
	return start, nil
}

func (s *capture) captureOne() (*vpx.I420, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil, ErrClosed
	}
	f, err := s.g.grab(true)
	if err != nil {
		return nil, err
	}
	return s.g.fit(f, s.opts.MaxWidth, s.opts.MaxHeight)
}

func (s *capture) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.g.release()
		s.c.close()
		s.c = nil
	})
	return nil
}

// supported: capture works on this system (tests).
const supported = true
