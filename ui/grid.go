package ui

import (
	"fmt"
	"image/color"
	"sync"
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/mxcall/mxcall/assets"
)

// MaxTiles is how many participants the grid shows; the rest are counted
// in a "+N more" note.
const MaxTiles = 9

// tileAspect is the width:height of a grid cell (the video inside keeps
// its own aspect ratio).
const tileAspect = 16.0 / 9

var (
	// speakingColor draws the border of the tile of who is speaking.
	speakingColor = color.NRGBA{0x0d, 0xbd, 0x8b, 0xff}
	// tileColor is a tile's background behind the initials.
	tileColor = color.NRGBA{0x20, 0x24, 0x2c, 0xff}
	// shadeColor is the dark, translucent backing of text over video.
	shadeColor = color.NRGBA{0, 0, 0, 0x99}
)

// Tile is one participant of a group call in the call view's grid: their
// video (kept in its aspect ratio) or, without video, their initials; their
// name with mute badges; and a coloured border while they speak. A tile
// lives as long as its participant stays in the grid: updates change it in
// place, and it is released when the participant leaves.
type Tile struct {
	widget.BaseWidget

	// Video draws the participant's frames (its placeholder is the
	// initials).
	Video *VideoView

	p      Participant
	label  string // the name as shown before it is cut to fit
	fitFor string // the label name.Text was cut from,
	fitW   float32
	textH  float32 // height of a line of name
	avatar *Avatar
	name   *canvas.Text
	strip  *canvas.Rectangle
	mic    *canvas.Image
	cam    *canvas.Image
	border *canvas.Rectangle
	// wait says "Waiting for their key" over the tile while an encrypted
	// participant's key has not arrived (no picture is shown then).
	wait      *canvas.Text
	waitShade *canvas.Rectangle
}

func newTile(p Participant, cfg *config) *Tile {
	t := &Tile{}
	t.avatar = NewAvatar(p.ID, tileName(p), nil, 96)
	t.Video = NewVideoView(container.NewStack(canvas.NewRectangle(tileColor), container.New(avatarFit{}, t.avatar)))
	t.Video.do = cfg.do
	t.Video.hidden = &cfg.hidden
	t.name = canvas.NewText("", callTextColor)
	t.name.TextSize = theme.TextSize()
	t.textH = fyne.MeasureText("Ag", t.name.TextSize, t.name.TextStyle).Height
	t.strip = canvas.NewRectangle(shadeColor)
	t.strip.CornerRadius = 4
	t.mic = canvas.NewImageFromResource(theme.NewColoredResource(assets.MicOff, theme.ColorNameError))
	t.cam = canvas.NewImageFromResource(theme.NewColoredResource(assets.VideocamOff, theme.ColorNameError))
	for _, i := range []*canvas.Image{t.mic, t.cam} {
		i.FillMode = canvas.ImageFillContain
		i.Hide()
	}
	t.border = canvas.NewRectangle(color.Transparent)
	t.border.StrokeColor = speakingColor
	t.border.StrokeWidth = 3
	t.border.Hide()
	t.wait = canvas.NewText("Waiting for their key…", callTextColor)
	t.wait.TextSize = theme.TextSize()
	t.wait.Alignment = fyne.TextAlignCenter
	t.waitShade = canvas.NewRectangle(shadeColor)
	t.waitShade.CornerRadius = 4
	t.wait.Hide()
	t.waitShade.Hide()
	t.ExtendBaseWidget(t)
	t.set(p, true)
	return t
}

// tileName is the name a tile shows for p.
func tileName(p Participant) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

// set shows p on the tile; the picture is redrawn only when force is true
// or something shown changed.
func (t *Tile) set(p Participant, force bool) {
	old := t.p
	t.p = p
	label := tileName(p)
	switch {
	case p.Screen && p.Local:
		label = "Your screen"
	case p.Screen:
		label += "'s screen"
	case p.Local:
		label += " (you)"
	}
	shows := func(p Participant) bool { return p.Video != nil && !p.VideoMuted && !p.WaitingForKey }
	if shows(p) {
		t.Video.SetSource(p.Video)
	} else if shows(old) || force {
		t.Video.Clear()
	}
	if !force && label == t.label && old.ID == p.ID && old.Name == p.Name && old.Screen == p.Screen && old.AudioMuted == p.AudioMuted &&
		old.VideoMuted == p.VideoMuted && old.Speaking == p.Speaking && old.WaitingForKey == p.WaitingForKey {
		return
	}
	setVisible(t.wait, p.WaitingForKey)
	setVisible(t.waitShade, p.WaitingForKey)
	if force || old.ID != p.ID || old.Name != p.Name {
		t.avatar.set(p.ID, tileName(p))
	}
	t.label = label
	setVisible(t.mic, p.AudioMuted && !p.Screen)
	setVisible(t.cam, p.VideoMuted && !p.Screen)
	setVisible(t.border, p.Speaking && !p.Screen)
	t.Refresh()
}

// Participant returns what the tile shows.
func (t *Tile) Participant() Participant { return t.p }

// Name returns the name as drawn (cut short with "…" when it does not fit).
func (t *Tile) Name() string { return t.name.Text }

// Badges reports which mute badges are shown.
func (t *Tile) Badges() (micOff, camOff bool) { return t.mic.Visible(), t.cam.Visible() }

// WaitingForKey reports whether the tile says it waits for the
// participant's media key.
func (t *Tile) WaitingForKey() bool { return t.wait.Visible() }

// Highlighted reports whether the tile is marked as speaking.
func (t *Tile) Highlighted() bool { return t.border.Visible() }

// release lets go of the video (see VideoView.Release) and the
// participant's frame source.
func (t *Tile) release() {
	t.Video.Release()
	t.p.Video = nil
}

// CreateRenderer implements fyne.Widget.
func (t *Tile) CreateRenderer() fyne.WidgetRenderer {
	return &tileRenderer{t: t, objs: []fyne.CanvasObject{t.Video, t.waitShade, t.wait, t.strip, t.mic, t.cam, t.name, t.border}}
}

type tileRenderer struct {
	t    *Tile
	objs []fyne.CanvasObject
}

func (r *tileRenderer) Layout(size fyne.Size) {
	t := r.t
	t.Video.Move(fyne.Position{})
	t.Video.Resize(size)
	t.border.Move(fyne.Position{})
	t.border.Resize(size)

	const pad, inner, icon, gap = 6, 6, 18, 4
	textH := t.textH
	stripH := fyne.Max(textH, icon) + 4
	y := size.Height - pad - stripH
	x := float32(pad + inner)
	for _, i := range []*canvas.Image{t.mic, t.cam} {
		if !i.Visible() {
			continue
		}
		i.Move(fyne.NewPos(x, y+(stripH-icon)/2))
		i.Resize(fyne.NewSquareSize(icon))
		x += icon + gap
	}
	// Measuring text is slow: cut the name again only when it or the
	// room for it changed (not when only the speaker did).
	if avail := size.Width - x - pad - inner; t.fitFor != t.label || avail != t.fitW {
		t.name.Text = ellipsize(t.label, t.name.TextSize, t.name.TextStyle, avail)
		t.fitFor, t.fitW = t.label, avail
		t.name.Resize(fyne.NewSize(fyne.MeasureText(t.name.Text, t.name.TextSize, t.name.TextStyle).Width, textH))
	}
	w := t.name.Size().Width
	if t.name.Text == "" {
		x -= gap
	}
	t.name.Move(fyne.NewPos(x, y+(stripH-textH)/2))
	t.strip.Move(fyne.NewPos(pad, y))
	t.strip.Resize(fyne.NewSize(x+w+inner-pad, stripH))
	setVisible(t.strip, x+w > pad+inner)
	if t.wait.Visible() {
		ws := fyne.MeasureText(t.wait.Text, t.wait.TextSize, t.wait.TextStyle)
		t.wait.Resize(ws)
		t.wait.Move(fyne.NewPos((size.Width-ws.Width)/2, (size.Height-ws.Height)/2))
		t.waitShade.Resize(fyne.NewSize(ws.Width+2*inner, ws.Height+4))
		t.waitShade.Move(fyne.NewPos((size.Width-ws.Width)/2-inner, (size.Height-ws.Height)/2-2))
	}
}

func (r *tileRenderer) MinSize() fyne.Size { return fyne.NewSize(64, 36) }

// Refresh redraws the decorations; the video redraws itself when a frame
// arrives. The badges are only marked for repainting: an image's own
// Refresh would parse its SVG again.
func (r *tileRenderer) Refresh() {
	r.Layout(r.t.Size())
	for _, o := range r.objs[1:] {
		canvas.Refresh(o)
	}
}

func (r *tileRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *tileRenderer) Destroy()                     {}

// avatarFit centres its objects as a square of 45 % of the smaller side
// (between 24 and 160 px): initials that fit a tile of any size.
type avatarFit struct{}

func (avatarFit) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	d := fyne.Max(24, fyne.Min(160, fyne.Min(s.Width, s.Height)*0.45))
	for _, o := range objs {
		o.Move(fyne.NewPos((s.Width-d)/2, (s.Height-d)/2))
		o.Resize(fyne.NewSquareSize(d))
	}
}

func (avatarFit) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSquareSize(24) }

// ellipsize returns s, or the longest start of it followed by "…", that is
// at most max wide in the given text size and style ("" when not even "…"
// fits).
func ellipsize(s string, size float32, style fyne.TextStyle, max float32) string {
	if fyne.MeasureText(s, size, style).Width <= max {
		return s
	}
	const dots = "…"
	r := []rune(s)
	lo, hi := 0, len(r) // the longest fitting prefix is in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fyne.MeasureText(string(r[:mid])+dots, size, style).Width <= max {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 && fyne.MeasureText(dots, size, style).Width > max {
		return ""
	}
	return string(r[:lo]) + dots
}

// Grid is the call view of a group call: a tile per participant, ours
// first, at most MaxTiles (the rest are counted in a "+N more" note),
// laid out 1 (full), 2 (side by side), 2×2, 3×2 or 3×3 in cells of a fixed
// aspect ratio. While someone shares a screen, the share's tile
// (Participant.Screen) takes most of the view and the others go in a
// column beside it. Tiles are kept across updates and released when their
// participant leaves. Use it on the UI goroutine.
type Grid struct {
	widget.BaseWidget

	cfg      *config
	tiles    map[string]*Tile
	shown    []*Tile
	more     int
	moreBg   *canvas.Rectangle
	moreText *canvas.Text
	rate     int // video poll rate while started; 0: stopped

	// statMu guards statViews, the shown tiles' views, which the grid's
	// poller and Repaints read from their own goroutines.
	statMu    sync.Mutex
	statViews []*VideoView

	// The grid's one poller (Start), and whether the repaint it queued
	// last has not run yet.
	pollStop chan struct{}
	polling  sync.WaitGroup
	pending  atomic.Bool
}

func newGrid(cfg *config) *Grid {
	g := &Grid{cfg: cfg, tiles: map[string]*Tile{}}
	g.moreBg = canvas.NewRectangle(shadeColor)
	g.moreBg.CornerRadius = 4
	g.moreText = canvas.NewText("", callTextColor)
	g.moreText.TextStyle.Bold = true
	g.ExtendBaseWidget(g)
	return g
}

// Update shows ps (ours first). Participants keep their tiles; tiles of
// those who left are released. Repeated IDs count once.
func (g *Grid) Update(ps []Participant) {
	counted := make(map[string]bool, len(ps))
	onScreen := make(map[string]bool, min(len(ps), MaxTiles))
	shown := make([]*Tile, 0, min(len(ps), MaxTiles))
	more := 0
	for _, p := range ps {
		if counted[p.ID] {
			continue
		}
		counted[p.ID] = true
		if len(shown) == MaxTiles {
			more++
			continue
		}
		onScreen[p.ID] = true
		t := g.tiles[p.ID]
		if t == nil {
			t = newTile(p, g.cfg)
			g.tiles[p.ID] = t
		} else {
			t.set(p, false)
		}
		shown = append(shown, t)
	}
	for id, t := range g.tiles {
		if !onScreen[id] {
			t.release()
			delete(g.tiles, id)
		}
	}
	same := more == g.more && len(shown) == len(g.shown)
	for i := 0; same && i < len(shown); i++ {
		same = shown[i] == g.shown[i]
	}
	g.shown, g.more = shown, more
	g.setStatViews()
	if !same { // who is where changed (tiles redraw their own changes)
		g.Refresh()
	}
}

// Tiles returns the tiles on screen, in order.
func (g *Grid) Tiles() []*Tile { return append([]*Tile(nil), g.shown...) }

// Tile returns the tile of the participant with id, if shown.
func (g *Grid) Tile(id string) (*Tile, bool) {
	t, ok := g.tiles[id]
	return t, ok
}

// More returns how many participants are left out of the grid.
func (g *Grid) More() int { return g.more }

// Start polls the tiles' videos rate times a second, tiles added later
// too, until Stop. One poller serves every tile and puts all the new
// frames of a tick on screen with one repaint of the window: a poller per
// tile, ticking at its own moments, made up to one repaint per tile per
// frame, and the window is repainted whole each time (the software
// painter's cost in a 4-way call halves). Calling Start again does
// nothing but change the rate for the next Start.
func (g *Grid) Start(rate int) {
	if rate <= 0 {
		rate = DefaultVideoRate
	}
	g.rate = rate
	if g.pollStop != nil {
		return
	}
	stop := make(chan struct{})
	g.pollStop = stop
	g.polling.Add(1)
	go func() {
		defer g.polling.Done()
		pollEvery(rate, stop, g.Poll)
	}()
}

// Poll takes the newest frame of every shown tile that has one it has not
// shown yet and swaps them all in through one call of the UI runner (one
// repaint). It reports whether a repaint was queued. Nothing is taken
// while the window is minimised, nor while the previous repaint is still
// queued. Only one goroutine may call Poll at a time (the poller started
// by Start, or a test).
func (g *Grid) Poll() bool {
	if g.pending.Load() || g.cfg.hidden.Load() {
		return false
	}
	g.statMu.Lock()
	views := g.statViews
	g.statMu.Unlock()
	var swaps []func()
	for _, v := range views {
		if c := v.prepare(); c != nil {
			v.updates.Add(1)
			swaps = append(swaps, c)
		}
	}
	if len(swaps) == 0 {
		return false
	}
	g.pending.Store(true)
	g.cfg.do(func() {
		defer g.pending.Store(false)
		for _, c := range swaps {
			c()
		}
	})
	return true
}

// Stop ends polling and waits for the poller to exit. Idempotent.
func (g *Grid) Stop() {
	g.rate = 0
	if g.pollStop != nil {
		close(g.pollStop)
		g.pollStop = nil
		g.polling.Wait()
	}
}

// Release stops polling and releases every tile: the grid is empty
// afterwards. Idempotent.
func (g *Grid) Release() {
	g.Stop()
	for id, t := range g.tiles {
		t.release()
		delete(g.tiles, id)
	}
	if len(g.shown) > 0 || g.more > 0 {
		g.shown, g.more = nil, 0
		g.setStatViews()
		g.Refresh()
	}
}

func (g *Grid) setStatViews() {
	views := make([]*VideoView, 0, len(g.shown))
	for _, t := range g.shown {
		views = append(views, t.Video)
	}
	g.statMu.Lock()
	g.statViews = views
	g.statMu.Unlock()
}

// Repaints returns how many tiles are on screen and how many frames they
// have painted in all (each since its tile was made). Unlike the rest of
// Grid it may be called from any goroutine (the stats log).
func (g *Grid) Repaints() (tiles int, frames uint64) {
	g.statMu.Lock()
	defer g.statMu.Unlock()
	for _, v := range g.statViews {
		frames += v.Repaints()
	}
	return len(g.statViews), frames
}

// CreateRenderer implements fyne.Widget.
func (g *Grid) CreateRenderer() fyne.WidgetRenderer {
	r := &gridRenderer{g: g}
	r.sync()
	return r
}

// gridShape is the columns and rows of a grid of n tiles.
func gridShape(n int) (cols, rows int) {
	switch {
	case n <= 1:
		return 1, 1
	case n == 2:
		return 2, 1
	case n <= 4:
		return 2, 2
	case n <= 6:
		return 3, 2
	}
	return 3, 3
}

type gridRenderer struct {
	g    *Grid
	objs []fyne.CanvasObject
}

// sync makes the objects match the grid's tiles.
func (r *gridRenderer) sync() {
	g := r.g
	r.objs = r.objs[:0]
	for _, t := range g.shown {
		r.objs = append(r.objs, t)
	}
	if g.more > 0 {
		g.moreText.Text = fmt.Sprintf("+%d more", g.more)
		r.objs = append(r.objs, g.moreBg, g.moreText)
	}
}

func (r *gridRenderer) Layout(size fyne.Size) {
	g := r.g
	n := len(g.shown)
	if n == 0 {
		return
	}
	if main := g.Presenting(); main != nil {
		r.layoutPresenting(size, main)
		r.layoutMore()
		return
	}
	cols, rows := gridShape(n)
	gap := theme.Padding()
	cw := (size.Width - gap*float32(cols-1)) / float32(cols)
	ch := (size.Height - gap*float32(rows-1)) / float32(rows)
	if cw/ch > tileAspect {
		cw = ch * tileAspect
	} else {
		ch = cw / tileAspect
	}
	cw, ch = fyne.Max(cw, 1), fyne.Max(ch, 1)
	w := cw*float32(cols) + gap*float32(cols-1)
	h := ch*float32(rows) + gap*float32(rows-1)
	x0, y0 := (size.Width-w)/2, (size.Height-h)/2
	for i, t := range g.shown {
		row, col := i/cols, i%cols
		inRow := min(cols, n-row*cols) // an incomplete last row is centred
		x := x0 + float32(cols-inRow)*(cw+gap)/2 + float32(col)*(cw+gap)
		t.Move(fyne.NewPos(x, y0+float32(row)*(ch+gap)))
		t.Resize(fyne.NewSize(cw, ch))
	}
	r.layoutMore()
}

// Presenting returns the tile of the screen share shown large (the first
// share on screen), nil when nobody shares.
func (g *Grid) Presenting() *Tile {
	for _, t := range g.shown {
		if t.p.Screen {
			return t
		}
	}
	return nil
}

// layoutPresenting puts main (a screen share) on the left, as large as
// the view less a column of a quarter of its width (at most 320 px) on
// the right, where the other tiles go, one under the other, in cells of
// tileAspect centred in the column's height.
func (r *gridRenderer) layoutPresenting(size fyne.Size, main *Tile) {
	g := r.g
	gap := theme.Padding()
	side := len(g.shown) - 1
	if side == 0 {
		main.Move(fyne.Position{})
		main.Resize(size)
		return
	}
	colW := fyne.Min(size.Width/4, 320)
	main.Move(fyne.Position{})
	main.Resize(fyne.NewSize(fyne.Max(size.Width-colW-gap, 1), size.Height))
	ch := fyne.Min((size.Height-gap*float32(side-1))/float32(side), colW/tileAspect)
	cw := ch * tileAspect
	ch, cw = fyne.Max(ch, 1), fyne.Max(cw, 1)
	x := size.Width - colW + (colW-cw)/2
	y := (size.Height - (ch*float32(side) + gap*float32(side-1))) / 2
	for _, t := range g.shown {
		if t == main {
			continue
		}
		t.Move(fyne.NewPos(x, y))
		t.Resize(fyne.NewSize(cw, ch))
		y += ch + gap
	}
}

// layoutMore puts the "+N more" note on the last tile.
func (r *gridRenderer) layoutMore() {
	g := r.g
	n := len(g.shown)
	if g.more > 0 {
		// In the top right corner of the last tile: after it come the
		// ones left out.
		const pad = 6
		last := g.shown[n-1]
		ts := g.moreText.MinSize()
		bw, bh := ts.Width+2*pad, ts.Height+pad
		bx, by := last.Position().X+last.Size().Width-bw-pad, last.Position().Y+pad
		g.moreBg.Move(fyne.NewPos(bx, by))
		g.moreBg.Resize(fyne.NewSize(bw, bh))
		g.moreText.Move(fyne.NewPos(bx+pad, by+pad/2))
		g.moreText.Resize(ts)
	}
}

func (r *gridRenderer) MinSize() fyne.Size { return fyne.NewSize(64, 36) }

func (r *gridRenderer) Refresh() {
	r.sync()
	r.Layout(r.g.Size())
	r.g.moreBg.Refresh()
	r.g.moreText.Refresh()
	canvas.Refresh(r.g)
}

func (r *gridRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *gridRenderer) Destroy()                     {}
